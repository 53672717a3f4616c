# The console's image: one static binary, with its front end (and Debian's Chart.js)
# embedded, nothing else. Built by scripts/build-image.sh, which compiles the binary and
# passes a context holding only it.
FROM scratch
ARG VERSION=dev
COPY bosun-ui /bosun-ui
# SQLite's temporary files go to the data directory: the image has no /tmp.
ENV BOSUN_UI_LISTEN=0.0.0.0:9443 \
    BOSUN_UI_DATA_DIR=/var/lib/bosun-ui \
    SQLITE_TMPDIR=/var/lib/bosun-ui
# Users, endpoints, the audit log, usage history and the console's keys: keep them on a volume.
VOLUME ["/var/lib/bosun-ui"]
EXPOSE 9443/tcp
LABEL org.opencontainers.image.title="bosun-ui" \
      org.opencontainers.image.description="The Bosun console: a web UI for clusters of Bosun agents" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
ENTRYPOINT ["/bosun-ui"]
