//! The updates' command-line settings: how often each cluster's update report is pulled.

use std::time::Duration;

use bosun_serve::duration::parse as parse_duration;

/// How the update reports are pulled. Durations: `90s`, `30m`.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct UpdateArgs {
    /// How often each cluster's agent is asked for its nodes' latest update checks.
    #[arg(long, env = "BOSUN_UI_UPDATE_PULL_INTERVAL", default_value = "60s", value_parser = parse_duration)]
    pub update_pull_interval: Duration,
}

impl Default for UpdateArgs {
    fn default() -> Self {
        Self {
            update_pull_interval: UpdateSettings::default().pull_interval,
        }
    }
}

impl UpdateArgs {
    /// The settings, checked.
    pub fn settings(&self) -> Result<UpdateSettings, String> {
        if self.update_pull_interval < Duration::from_secs(1) {
            return Err("--update-pull-interval: at least 1s".into());
        }
        Ok(UpdateSettings {
            pull_interval: self.update_pull_interval,
        })
    }
}

/// The updates' settings, as the puller reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateSettings {
    pub pull_interval: Duration,
}

impl Default for UpdateSettings {
    fn default() -> Self {
        Self {
            pull_interval: Duration::from_secs(60),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[test]
    fn the_pull_interval_is_a_flag_of_a_second_or_more() {
        let args = crate::cli::Args::try_parse_from(["bosun-ui", "--update-pull-interval", "5m"])
            .expect("parses");
        assert_eq!(
            args.updates.settings().expect("valid").pull_interval,
            Duration::from_secs(300)
        );
        assert_eq!(
            UpdateArgs::default()
                .settings()
                .expect("valid")
                .pull_interval,
            Duration::from_secs(60)
        );
        let zero = UpdateArgs {
            update_pull_interval: Duration::ZERO,
        };
        assert!(zero.settings().is_err());
    }
}
