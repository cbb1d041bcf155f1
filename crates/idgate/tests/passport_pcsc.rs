//! `idgate passport read` against a chip that is not ours: the virtual smart card project's
//! ePassport emulator (Debian's `vsmartcard-vpicc`), reached through real PC/SC (`pcscd` with
//! the `vsmartcard-vpcd` reader driver). The emulator is given a factory passport's files by
//! `scripts/vicc-passport.py`; the files read back with BAC must be the same bytes.
//!
//! What the emulator (vsmartcard 0.8, Debian's 3.3) can do today: BAC runs to the end (GET
//! CHALLENGE, MUTUAL AUTHENTICATE, both cryptograms and MACs checked by both sides), and it
//! verifies the MAC of the first protected command; then its secure-messaging code fails on
//! Python 3 (`SEutils.Security_Environment.parse_SM_CAPDU` joins the decrypted command data
//! with `"".join(...)`, a Python 2 string idiom, and answers `6988`). That is protocol logic,
//! which the driver does not patch. So the test checks BAC through PC/SC against the emulator
//! and, while the emulator stops there, that it stops exactly there; once the emulator's secure
//! messaging runs, the same test compares every file read with the files the emulator holds.
//!
//! `.ci/run` installs the packages and starts `pcscd`; the test starts the emulator. The
//! virtual reader holds one card at a time, so this file has one test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap or index is the test failing"
)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use emrtd::testkit::card::yymmdd;
use emrtd::testkit::{Algo, TestPassport};
use idgate_testkit::Prereq;

/// The reader vpcd's default configuration (`/etc/reader.conf.d/vpcd`, port 35963) creates.
const VIRTUAL_READER: &str = "Virtual PCD 00 00";
const SYSTEM_PYTHON: &str = "/usr/bin/python3";

fn idgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_idgate"))
}

/// Kills the emulator when the test ends, however it ends.
struct Emulator(Child);

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn readers() -> Option<Vec<String>> {
    let out = idgate().args(["passport", "readers"]).output().ok()?;
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    })
}

fn emulator_available() -> bool {
    Command::new(SYSTEM_PYTHON)
        .args([
            "-c",
            "import sys, importlib.util; \
             sys.path.insert(0, '/usr/lib/python3/site-packages/virtualsmartcard'); \
             import Cryptodome; \
             assert importlib.util.find_spec('virtualsmartcard.cards.ePass')",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).unwrap();
}

#[test]
fn a_bac_read_through_pcsc_returns_the_files_the_independent_emulator_holds() {
    if !cfg!(feature = "pcsc") {
        return idgate_testkit::missing(
            Prereq::PcscLibrary,
            "idgate was built without the `pcsc` feature (scripts/test.sh enables it where pkg-config finds libpcsclite)",
        );
    }
    match readers() {
        Some(list) if list.iter().any(|r| r == VIRTUAL_READER) => {}
        Some(list) => {
            return idgate_testkit::missing(
                Prereq::Pcscd,
                format!("pcscd runs but lists no {VIRTUAL_READER:?} (readers: {list:?})"),
            );
        }
        None => {
            return idgate_testkit::missing(Prereq::Pcscd, "no PC/SC service is running");
        }
    }
    if !emulator_available() {
        return idgate_testkit::missing(
            Prereq::PassportEmulator,
            "/usr/bin/python3 finds no virtualsmartcard.cards.ePass or no Cryptodome",
        );
    }

    let passport = TestPassport::builder()
        .algorithm(Algo::EcdsaP256)
        .build()
        .unwrap();
    let given = tempfile::tempdir().unwrap();
    write(given.path(), "EF_COM.bin", &passport.com);
    write(given.path(), "EF_SOD.bin", &passport.sod);
    for (number, bytes) in passport.data_groups() {
        write(given.path(), &format!("DG{number}.bin"), bytes);
    }
    write(given.path(), "csca.der", &passport.csca_der);

    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/vicc-passport.py"
    );
    let mut child = Command::new(SYSTEM_PYTHON)
        .arg(script)
        .arg("-vv")
        .arg("--files")
        .arg(given.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let _emulator = Emulator(child);
    // The driver says when it is connected to vpcd; its later output is kept for the report.
    let mut lines = BufReader::new(stderr).lines();
    let mut startup = Vec::new();
    for line in lines.by_ref().map_while(Result::ok) {
        let ready = line.contains("connected to vpcd");
        startup.push(line);
        if ready || startup.len() > 50 {
            break;
        }
    }
    assert!(
        startup.iter().any(|l| l.contains("connected to vpcd")),
        "emulator did not start:\n{}",
        startup.join("\n")
    );
    let log = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());

    let out_dir = tempfile::tempdir().unwrap();
    let mrz = format!(
        "{},{},{}",
        passport.holder.document_number,
        yymmdd(passport.holder.date_of_birth),
        yymmdd(passport.holder.date_of_expiry)
    );
    let at = passport
        .signed_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let read = |mrz: &str| {
        // pcscd notices the card a moment after the emulator connects.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let started = Instant::now();
            let out = idgate()
                .args([
                    "passport",
                    "read",
                    "--reader",
                    VIRTUAL_READER,
                    "--json",
                    "--verify",
                ])
                .arg("--out")
                .arg(out_dir.path())
                .arg("--trust")
                .arg(given.path().join("csca.der"))
                .args(["--at", &at])
                .env("IDGATE_PASSPORT_MRZ", mrz)
                .env("RUST_BACKTRACE", "0")
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            if stderr.contains("no card on reader") && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
            eprintln!(
                "--- idgate passport read ({:?}):\n{stderr}",
                started.elapsed()
            );
            break (out, stderr);
        }
    };

    // A wrong MRZ: the emulator rejects the terminal's MAC at MUTUAL AUTHENTICATE (it answers
    // 6988 where ICAO 9303-11 §4.3.4 has chips answer 6300), so no session is established.
    let (out, stderr) = read("X12345678,010101,300101");
    assert!(!out.status.success());
    assert!(!stderr.contains("access control: BAC"), "{stderr}");
    assert!(stderr.contains("status 6988"), "{stderr}");

    let (out, stderr) = read(&mrz);
    for secret in [
        passport.holder.document_number.as_str(),
        &passport.mrz[..30],
    ] {
        assert!(!stderr.contains(secret), "progress shows the MRZ: {stderr}");
    }
    // BAC through PC/SC: GET CHALLENGE and MUTUAL AUTHENTICATE succeeded and the emulator's
    // cryptogram verified under the keys this side derived from the MRZ.
    assert!(stderr.contains("access control: BAC (4 APDUs)"), "{stderr}");
    drop(_emulator);
    let emulator_log = log.join().unwrap_or_default().join("\n");

    if !out.status.success() {
        // The emulator's known Python 3 failure, after its MAC check of our first protected
        // command passed (the MAC is checked inside the loop over the data objects, the join
        // comes after it). Anything else is a failure of ours.
        assert!(
            stderr.contains("the chip refused access (status 6988)")
                && emulator_log.contains("data=\"\".join(return_data)")
                && emulator_log.contains("expected str instance, bytes found"),
            "the read failed other than at the emulator's known Python 3 defect:\n{stderr}\n\
             emulator:\n{emulator_log}"
        );
        eprintln!(
            "BAC through PC/SC passed; the emulator's secure messaging stops at its Python 2 \
             `\"\".join` (SEutils.parse_SM_CAPDU), so the files were not compared"
        );
        return;
    }

    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["access_control"], "bac");
    assert_eq!(json["verification"]["verdict"], "authentic", "{json}");
    let file = |name: &str| std::fs::read(out_dir.path().join(name)).unwrap();
    assert_eq!(file("EF_COM.bin"), passport.com);
    assert_eq!(file("EF_SOD.bin"), passport.sod);
    for (number, bytes) in passport.data_groups() {
        assert_eq!(file(&format!("DG{number}.bin")), bytes, "DG{number}");
    }
}
