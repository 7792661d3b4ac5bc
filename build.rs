//! Tells the integration tests which real-data directories were named when
//! they were built. A test that needs `IMPART_NIFTI_REAL_DIR`,
//! `IMPART_ZARR_REAL_DIR` or `IMPART_FIXTURES_DIR` is an ordinary test when
//! the variable is set and is reported as ignored, with the reason, when it
//! is not: `#[cfg_attr(not(impart_nifti_real_dir), ignore = "...")]`. The
//! library itself uses none of these cfgs.

const DIRS: [(&str, &str); 3] = [
    ("IMPART_NIFTI_REAL_DIR", "impart_nifti_real_dir"),
    ("IMPART_ZARR_REAL_DIR", "impart_zarr_real_dir"),
    ("IMPART_FIXTURES_DIR", "impart_fixtures_dir"),
];

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    for (var, cfg) in DIRS {
        println!("cargo::rerun-if-env-changed={var}");
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        if std::env::var_os(var).is_some_and(|d| !d.is_empty()) {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
