//! Temperatures from the kernel's hardware monitors (`/sys/class/hwmon`), where the host
//! has any; virtual machines usually have none.

use std::path::Path;

use crate::usage::sample::Temperature;

pub fn read(hwmon: &Path) -> Vec<Temperature> {
    let Ok(monitors) = std::fs::read_dir(hwmon) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for monitor in monitors.flatten() {
        let dir = monitor.path();
        let name = std::fs::read_to_string(dir.join("name"))
            .map(|n| n.trim().to_owned())
            .unwrap_or_else(|_| monitor.file_name().to_string_lossy().into_owned());
        let Ok(files) = std::fs::read_dir(&dir) else {
            continue;
        };
        for file in files.flatten() {
            let file_name = file.file_name().to_string_lossy().into_owned();
            let Some(sensor) = file_name
                .strip_prefix("temp")
                .and_then(|s| s.strip_suffix("_input"))
            else {
                continue;
            };
            let Some(millis) = std::fs::read_to_string(file.path())
                .ok()
                .and_then(|v| v.trim().parse::<i64>().ok())
            else {
                continue;
            };
            let label = std::fs::read_to_string(dir.join(format!("temp{sensor}_label")))
                .map(|l| l.trim().to_owned())
                .unwrap_or_else(|_| format!("temp{sensor}"));
            out.push(Temperature {
                sensor: format!("{name}/{label}"),
                celsius: millis as f64 / 1000.0,
            });
        }
    }
    out.sort_by(|a, b| a.sensor.cmp(&b.sensor));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensors_are_named_by_monitor_and_label_in_degrees() {
        let dir = tempfile::tempdir().unwrap();
        let mon = dir.path().join("hwmon0");
        std::fs::create_dir(&mon).unwrap();
        std::fs::write(mon.join("name"), "coretemp\n").unwrap();
        std::fs::write(mon.join("temp1_input"), "45500\n").unwrap();
        std::fs::write(mon.join("temp1_label"), "Package id 0\n").unwrap();
        std::fs::write(mon.join("temp2_input"), "40000\n").unwrap();
        let t = read(dir.path());
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].sensor, "coretemp/Package id 0");
        assert_eq!(t[0].celsius, 45.5);
        assert_eq!(t[1].sensor, "coretemp/temp2");
    }
}
