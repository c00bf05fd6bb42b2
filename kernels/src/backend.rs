//! Which backend a worker computes on: the job's `device` choice (`cpu`, `cuda`, `auto`)
//! resolved against what this process can load and see.

use std::str::FromStr;

use crate::cuda::libraries::{self, Libraries};

/// The job config's `device`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeviceChoice {
    /// The CPU backend, whatever is installed.
    Cpu,
    /// CUDA or an error: a GPU node that lost its driver should fail loudly, not train 50x
    /// slower.
    Cuda,
    /// CUDA where usable, else the CPU with the reason logged.
    #[default]
    Auto,
}

impl FromStr for DeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda),
            "auto" => Ok(DeviceChoice::Auto),
            other => Err(format!("device must be cpu, cuda or auto, not {other:?}")),
        }
    }
}

impl std::fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DeviceChoice::Cpu => "cpu",
            DeviceChoice::Cuda => "cuda",
            DeviceChoice::Auto => "auto",
        })
    }
}

/// The outcome of [`select`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selected {
    /// The CPU; `fallback` holds why CUDA was not taken when it was asked for by `auto`.
    Cpu { fallback: Option<String> },
    /// CUDA device `ordinal` (of `devices` this process sees).
    Cuda { ordinal: usize, devices: usize },
}

/// Resolves `choice` for the GPU `ordinal` this worker was given (one process per GPU).
///
/// # Errors
/// With `DeviceChoice::Cuda`, a message naming what is missing.
pub fn select(choice: DeviceChoice, ordinal: usize) -> Result<Selected, String> {
    select_with(choice, ordinal, &Libraries::probe())
}

/// [`select`] against a given set of libraries (the tests pass a made-up one).
pub fn select_with(
    choice: DeviceChoice,
    ordinal: usize,
    libs: &Libraries,
) -> Result<Selected, String> {
    if choice == DeviceChoice::Cpu {
        return Ok(Selected::Cpu { fallback: None });
    }
    let usable = usable(ordinal, libs);
    match (choice, usable) {
        (_, Ok(devices)) => Ok(Selected::Cuda { ordinal, devices }),
        (DeviceChoice::Auto, Err(why)) => Ok(Selected::Cpu {
            fallback: Some(format!(
                "device = auto: using the CPU backend because {why}"
            )),
        }),
        (_, Err(why)) => Err(format!("device = cuda, but {why}")),
    }
}

fn usable(ordinal: usize, libs: &Libraries) -> Result<usize, String> {
    let missing = libs.missing_for_training();
    if !missing.is_empty() {
        return Err(format!(
            "these CUDA libraries were not found: {} (set LD_LIBRARY_PATH to their folder)",
            missing.join(", ")
        ));
    }
    let devices = libraries::device_count(libs)?;
    if ordinal >= devices {
        return Err(format!(
            "GPU {ordinal} was asked for and the driver sees {devices}"
        ));
    }
    Ok(devices)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_choices_and_rejects_others() {
        assert_eq!("cpu".parse(), Ok(DeviceChoice::Cpu));
        assert_eq!(" CUDA ".parse(), Ok(DeviceChoice::Cuda));
        assert_eq!("auto".parse(), Ok(DeviceChoice::Auto));
        let e = "tpu".parse::<DeviceChoice>().unwrap_err();
        assert!(e.contains("cpu, cuda or auto") && e.contains("tpu"), "{e}");
        for c in [DeviceChoice::Cpu, DeviceChoice::Cuda, DeviceChoice::Auto] {
            assert_eq!(c.to_string().parse(), Ok(c));
        }
    }

    #[test]
    fn auto_falls_back_with_the_reason_and_cuda_refuses_without_libraries() {
        let none = Libraries::default();
        assert_eq!(
            select_with(DeviceChoice::Cpu, 0, &none),
            Ok(Selected::Cpu { fallback: None })
        );
        match select_with(DeviceChoice::Auto, 0, &none) {
            Ok(Selected::Cpu {
                fallback: Some(why),
            }) => {
                assert!(
                    why.contains("libcuda.so") && why.contains("libcublas.so"),
                    "{why}"
                )
            }
            other => panic!("auto without CUDA gave {other:?}"),
        }
        let err = select_with(DeviceChoice::Cuda, 0, &none).unwrap_err();
        assert!(
            err.starts_with("device = cuda") && err.contains("libnvrtc.so"),
            "{err}"
        );
        // Only the driver missing: the message names it alone.
        let no_driver = Libraries {
            driver: false,
            nvrtc: true,
            cublas: true,
            nccl: true,
        };
        let err = select_with(DeviceChoice::Cuda, 0, &no_driver).unwrap_err();
        assert!(
            err.contains("libcuda.so") && !err.contains("libnvrtc"),
            "{err}"
        );
    }

    /// On this machine (whatever it has), `select` never panics and `auto` always gives a
    /// backend.
    #[test]
    fn select_on_this_machine_gives_a_backend_for_auto() {
        match select(DeviceChoice::Auto, 0) {
            Ok(Selected::Cpu { fallback }) => assert!(fallback.is_some()),
            Ok(Selected::Cuda { devices, .. }) => assert!(devices >= 1),
            Err(e) => panic!("auto must not fail: {e}"),
        }
    }
}
