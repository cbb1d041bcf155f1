//! `idgate passport read` and `idgate passport readers`: reading a passport's chip through a
//! PC/SC reader ([`idgate_reader`]) with `emrtd`'s terminal (BAC or PACE, secure messaging,
//! ICAO 9303-11 §4), writing the files as the chip holds them, and optionally verifying them
//! with the same passive authentication as `idgate passport verify`.
//!
//! Progress goes to stderr, one line per file with its size; the MRZ, the CAN and file contents
//! never appear in any output or error message (the read errors of `emrtd` carry none).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{ArgAction, Args};
use emrtd::apdu::sw;
use emrtd::lds::DataGroup;
use emrtd::passive::Verdict;
use emrtd::reader::{
    AccessKey, AccessProtocol, DocumentFiles, FileId, MrzKey, ReadError, Reader, Transport,
};
use idgate_reader::PcscTransport;
use time::OffsetDateTime;

use crate::passport::{parse_rfc3339, report_json, report_text, verify_files};

#[derive(Debug, Args)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "independent command-line switches"
)]
pub struct ReadArgs {
    /// The PC/SC reader, exactly as `idgate passport readers` lists it. Default: the only
    /// reader connected.
    #[arg(long)]
    pub reader: Option<String>,
    /// The access key from the MRZ: document number, date of birth and date of expiry
    /// (YYMMDD), comma-separated, e.g. `L898902C3,740812,120415`. May be given in the
    /// environment instead, which keeps it out of the process list.
    #[arg(
        long,
        env = "IDGATE_PASSPORT_MRZ",
        hide_env_values = true,
        conflicts_with = "can",
        required_unless_present = "can"
    )]
    pub mrz: Option<String>,
    /// The card access number printed on the document (PACE only).
    #[arg(long, env = "IDGATE_PASSPORT_CAN", hide_env_values = true)]
    pub can: Option<String>,
    /// Directory to write `EF_COM.bin`, `EF_SOD.bin` and `DG<n>.bin` to (created if missing).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Passive authentication of the files read, as `idgate passport verify` does.
    #[arg(long, requires = "trust")]
    pub verify: bool,
    /// With --verify: CSCA certificates, master lists, CRLs, or directories of them.
    #[arg(long, num_args = 1.., action = ArgAction::Append)]
    pub trust: Vec<PathBuf>,
    /// With --verify: also trust the CSCAs of unverified master lists.
    #[arg(long)]
    pub trust_unverified: bool,
    /// With --verify: time of verification (RFC 3339). Default: now.
    #[arg(long, value_parser = parse_rfc3339)]
    pub at: Option<OffsetDateTime>,
    /// Print the outcome as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Parses `--mrz DOCNO,DOB,EXPIRY` or takes `--can`.
fn access_key(args: &ReadArgs) -> anyhow::Result<AccessKey> {
    parse_access_key(args.mrz.as_deref(), args.can.as_deref())
}

/// The access key from `--mrz DOCNO,DOB,EXPIRY` or `--can N` (the CAN wins when both are
/// given; clap keeps them exclusive). The error names the field, never its value.
///
/// # Errors
/// When neither is given or the one given is malformed.
pub fn parse_access_key(mrz: Option<&str>, can: Option<&str>) -> anyhow::Result<AccessKey> {
    if let Some(can) = can {
        let can = can.trim();
        if can.is_empty() || !can.bytes().all(|b| b.is_ascii_digit()) {
            bail!("--can must be the digits printed on the document");
        }
        return Ok(AccessKey::Can(can.to_owned()));
    }
    let Some(mrz) = mrz else {
        bail!("give --mrz DOCNO,DOB,EXPIRY or --can N");
    };
    let parts: Vec<&str> = mrz.split(',').collect();
    let [number, birth, expiry] = parts.as_slice() else {
        bail!(
            "--mrz takes three comma-separated fields: document number, date of birth, date of expiry (YYMMDD)"
        );
    };
    MrzKey::new(number, birth, expiry)
        .map(AccessKey::Mrz)
        .map_err(|e| anyhow::anyhow!("--mrz: {e}"))
}

/// The name a file is written under in `--out`.
pub fn file_name(file: FileId) -> String {
    match file {
        FileId::COM => "EF_COM.bin".to_owned(),
        FileId::SOD => "EF_SOD.bin".to_owned(),
        FileId(id) => format!("DG{}.bin", id & 0x1F),
    }
}

fn label(file: FileId) -> String {
    match file {
        FileId::COM => "EF.COM".to_owned(),
        FileId::SOD => "EF.SOD".to_owned(),
        FileId(id) => format!("DG{}", id & 0x1F),
    }
}

/// `idgate passport readers`: one reader name per line on stdout.
pub fn run_readers() -> anyhow::Result<()> {
    let readers = idgate_reader::list_readers()?;
    if readers.is_empty() {
        eprintln!("no smart-card reader is connected");
    }
    for name in readers {
        println!("{name}");
    }
    Ok(())
}

/// What a read did, for the summary line and `--json`.
#[derive(Debug)]
pub struct ReadSummary {
    pub protocol: AccessProtocol,
    pub apdus: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub file_bytes: u64,
    pub elapsed: Duration,
}

/// The reader `--reader` names, else the only one connected. Without PC/SC support in this
/// build, the error says how to get it ([`idgate_reader::PcscError::NotBuilt`]).
///
/// # Errors
/// No reader, several and none chosen, or no PC/SC.
pub fn reader_name(flag: Option<&str>) -> anyhow::Result<String> {
    if let Some(name) = flag {
        return Ok(name.to_owned());
    }
    let readers = idgate_reader::list_readers()?;
    match readers.as_slice() {
        [only] => Ok(only.clone()),
        [] => bail!("no smart-card reader is connected"),
        _ => bail!(
            "{} readers are connected; choose one with --reader (see `idgate passport readers`)",
            readers.len()
        ),
    }
}

/// `idgate passport read`.
pub fn run_read(args: ReadArgs) -> anyhow::Result<()> {
    let key = access_key(&args)?;
    let name = reader_name(args.reader.as_deref())?;
    let transport = PcscTransport::connect(&name)?;
    eprintln!("reader {name}: card connected");
    let mut progress = |line: &str| eprintln!("{line}");
    let (files, summary) = read_chip(transport, &key, &mut progress)?;
    if let Some(dir) = &args.out {
        write_files(dir, &files)?;
        eprintln!("wrote the files to {}", dir.display());
    }
    if !args.verify {
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&summary_json(&files, &summary, None))?
            );
        }
        return Ok(());
    }
    let outcome = verify_files(
        &files.sod,
        &files.data_groups(),
        &args.trust,
        args.trust_unverified,
        args.at,
        None,
        &mut progress,
    )?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&summary_json(
                &files,
                &summary,
                Some(report_json(&outcome))
            ))?
        );
    } else {
        print!("{}", report_text(&outcome));
    }
    if outcome.report.verdict() != Verdict::Authentic {
        std::process::exit(2);
    }
    Ok(())
}

/// Authenticates (PACE, else BAC) and reads EF.COM, EF.SOD and every data group the SOD or
/// EF.COM lists, reporting each file through `progress`. A data group the chip refuses with
/// `6982` (DG3/DG4 behind terminal authentication) is reported and skipped, as
/// [`Reader::read_document`] does.
///
/// # Errors
/// The read error, whose message carries neither the access key nor file contents.
pub fn read_chip<T: Transport>(
    transport: T,
    key: &AccessKey,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<(DocumentFiles, ReadSummary)> {
    read_with(&mut Reader::new(transport), key, progress).map_err(explain)
}

/// [`read_chip`] on a reader the caller keeps, for what follows the read in the same session
/// (active authentication, the chip-authentication relay: `idgate kiosk`). The error is the
/// reader's own, so the caller can tell a wrong key from an unreadable chip.
///
/// # Errors
/// The read error, which carries neither the access key nor file contents.
pub fn read_with<T: Transport>(
    reader: &mut Reader<T>,
    key: &AccessKey,
    progress: &mut dyn FnMut(&str),
) -> Result<(DocumentFiles, ReadSummary), ReadError> {
    let started = Instant::now();
    let protocol = reader.authenticate(key)?;
    progress(&format!(
        "access control: {} ({} APDUs)",
        match protocol {
            AccessProtocol::Bac => "BAC".to_owned(),
            AccessProtocol::Pace(params) => format!("PACE ({params:?})"),
        },
        reader.stats().apdus
    ));
    let com = read_reporting(reader, FileId::COM, progress)?;
    let sod = read_reporting(reader, FileId::SOD, progress)?;
    let mut numbers: Vec<u8> = emrtd::sod::Sod::parse(&sod)
        .map(|s| s.lds.data_group_hashes.iter().map(|h| h.number).collect())
        .unwrap_or_default();
    if let Ok(parsed) = emrtd::lds::com::parse(&com) {
        numbers.extend(parsed.data_groups.iter().map(|dg| DataGroup::number(*dg)));
    }
    numbers.sort_unstable();
    numbers.dedup();
    let mut files = DocumentFiles {
        com,
        sod,
        ..DocumentFiles::default()
    };
    for number in numbers {
        let Some(file) = FileId::data_group(number) else {
            continue;
        };
        match read_reporting(reader, file, progress) {
            Ok(bytes) => {
                files.data_groups.insert(number, bytes);
            }
            Err(ReadError::AccessDenied {
                sw: sw::SECURITY_STATUS_NOT_SATISFIED,
            }) => {
                progress(&format!(
                    "{:<7} refused (needs terminal authentication)",
                    label(file)
                ));
                files.refused.push(number);
            }
            Err(e) => return Err(e),
        }
    }
    let stats = reader.stats();
    let file_bytes =
        files.com.len() + files.sod.len() + files.data_groups.values().map(Vec::len).sum::<usize>();
    let summary = ReadSummary {
        protocol,
        apdus: stats.apdus,
        bytes_sent: stats.bytes_sent,
        bytes_received: stats.bytes_received,
        file_bytes: file_bytes as u64,
        elapsed: started.elapsed(),
    };
    progress(&format!(
        "read {} files, {} bytes, in {} APDUs ({} bytes sent, {} received) in {:.2} s",
        2 + files.data_groups.len(),
        summary.file_bytes,
        summary.apdus,
        summary.bytes_sent,
        summary.bytes_received,
        summary.elapsed.as_secs_f64()
    ));
    Ok((files, summary))
}

/// Reads one file and reports its size and what the read cost.
fn read_reporting<T: Transport>(
    reader: &mut Reader<T>,
    file: FileId,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<u8>, ReadError> {
    let before = reader.stats();
    let bytes = reader.read_file(file)?;
    let after = reader.stats();
    progress(&format!(
        "{:<7} {:>7} bytes  ({} APDUs, {} bytes received)",
        label(file),
        bytes.len(),
        after.apdus - before.apdus,
        after.bytes_received - before.bytes_received
    ));
    Ok(bytes)
}

/// The read error with what the user can do about it.
pub fn explain(e: ReadError) -> anyhow::Error {
    let hint = match &e {
        ReadError::WrongAccessKey { .. } => {
            "check the document number, date of birth and date of expiry (or the CAN)"
        }
        ReadError::CardRemoved => "keep the document on the reader until the read ends",
        ReadError::BadMac => "the session was disturbed; read again",
        _ => "",
    };
    if hint.is_empty() {
        anyhow::anyhow!("reading the chip: {e}")
    } else {
        anyhow::anyhow!("reading the chip: {e}; {hint}")
    }
}

/// Writes each file under its name in `dir`, owner-readable only on Unix: the files hold the
/// holder's personal data.
fn write_files(dir: &Path, files: &DocumentFiles) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut all: Vec<(FileId, &[u8])> = vec![(FileId::COM, &files.com), (FileId::SOD, &files.sod)];
    for (number, bytes) in &files.data_groups {
        if let Some(file) = FileId::data_group(*number) {
            all.push((file, bytes));
        }
    }
    for (file, bytes) in all {
        let path = dir.join(file_name(file));
        write_private(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(path)?, bytes)
}

fn summary_json(
    files: &DocumentFiles,
    summary: &ReadSummary,
    verification: Option<serde_json::Value>,
) -> serde_json::Value {
    serde_json::json!({
        "access_control": match summary.protocol {
            AccessProtocol::Bac => "bac",
            AccessProtocol::Pace(_) => "pace",
        },
        "files": std::iter::once(("EF.COM".to_owned(), files.com.len()))
            .chain(std::iter::once(("EF.SOD".to_owned(), files.sod.len())))
            .chain(files.data_groups.iter().map(|(n, b)| (format!("DG{n}"), b.len())))
            .collect::<std::collections::BTreeMap<_, _>>(),
        "refused": files.refused,
        "apdus": summary.apdus,
        "bytes_sent": summary.bytes_sent,
        "bytes_received": summary.bytes_received,
        "file_bytes": summary.file_bytes,
        "seconds": summary.elapsed.as_secs_f64(),
        "verification": verification,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use emrtd::testkit::card::{CardBehaviour, VirtualCard};
    use emrtd::testkit::{Algo, TestPassport};

    fn passport() -> TestPassport {
        TestPassport::builder()
            .algorithm(Algo::EcdsaP256)
            .build()
            .unwrap()
    }

    fn args(mrz: Option<&str>, can: Option<&str>) -> ReadArgs {
        ReadArgs {
            reader: None,
            mrz: mrz.map(str::to_owned),
            can: can.map(str::to_owned),
            out: None,
            verify: false,
            trust: Vec::new(),
            trust_unverified: false,
            at: None,
            json: false,
        }
    }

    #[test]
    fn a_malformed_mrz_key_is_refused_without_echoing_it() {
        let err = access_key(&args(Some("L898902C3,7408XX,120415"), None)).unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("date of birth"), "{text}");
        assert!(
            !text.contains("L898902C3") && !text.contains("7408XX"),
            "{text}"
        );
        let err = access_key(&args(Some("L898902C3"), None)).unwrap_err();
        assert!(!format!("{err:#}").contains("L898902C3"));
    }

    #[test]
    fn a_can_must_be_digits() {
        assert!(access_key(&args(None, Some("12a456"))).is_err());
        assert!(matches!(
            access_key(&args(None, Some(" 123456 "))),
            Ok(AccessKey::Can(c)) if c == "123456"
        ));
    }

    #[test]
    fn files_are_named_as_the_emulator_driver_and_verify_expect() {
        assert_eq!(file_name(FileId::COM), "EF_COM.bin");
        assert_eq!(file_name(FileId::SOD), "EF_SOD.bin");
        assert_eq!(file_name(FileId::data_group(14).unwrap()), "DG14.bin");
    }

    #[test]
    fn a_read_returns_every_file_of_the_chip_and_reports_each() {
        let p = passport();
        let card = VirtualCard::new(&p, CardBehaviour::default()).unwrap();
        let mut lines = Vec::new();
        let (files, summary) = read_chip(card, &AccessKey::Mrz(p.mrz_key().unwrap()), &mut |l| {
            lines.push(l.to_owned())
        })
        .unwrap();
        assert_eq!(files.com, p.com);
        assert_eq!(files.sod, p.sod);
        assert_eq!(files.data_groups(), p.data_groups());
        assert_eq!(summary.protocol, AccessProtocol::Bac);
        for l in ["EF.COM", "EF.SOD", "DG1", "DG2"] {
            assert!(
                lines.iter().any(|line| line.starts_with(l)),
                "{l}: {lines:?}"
            );
        }
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&format!("{} bytes", p.dg2.len())))
        );
    }

    #[test]
    fn no_progress_line_or_error_shows_the_mrz_or_file_contents() {
        let p = passport();
        let card = VirtualCard::new(&p, CardBehaviour::default()).unwrap();
        let mut lines = Vec::new();
        read_chip(card, &AccessKey::Mrz(p.mrz_key().unwrap()), &mut |l| {
            lines.push(l.to_owned())
        })
        .unwrap();
        let wrong = AccessKey::Mrz(MrzKey::new("X12345678", "010101", "300101").unwrap());
        let card = VirtualCard::new(&p, CardBehaviour::default()).unwrap();
        let err = read_chip(card, &wrong, &mut |l| lines.push(l.to_owned())).unwrap_err();
        let err = format!("{err:#}");
        assert!(err.contains("wrong access key"), "{err}");
        lines.push(err);
        let name = p.holder.document_number.as_str();
        for line in &lines {
            assert!(
                !line.contains(name) && !line.contains("X12345678"),
                "{line}"
            );
            assert!(!line.contains(&p.mrz[..20]), "{line}");
        }
    }

    #[test]
    fn written_files_are_the_chip_files_under_their_names() {
        let p = passport();
        let card = VirtualCard::new(&p, CardBehaviour::default()).unwrap();
        let (files, _) =
            read_chip(card, &AccessKey::Mrz(p.mrz_key().unwrap()), &mut |_| {}).unwrap();
        let dir = tempfile::tempdir().unwrap();
        write_files(dir.path(), &files).unwrap();
        assert_eq!(std::fs::read(dir.path().join("EF_COM.bin")).unwrap(), p.com);
        assert_eq!(std::fs::read(dir.path().join("EF_SOD.bin")).unwrap(), p.sod);
        assert_eq!(std::fs::read(dir.path().join("DG1.bin")).unwrap(), p.dg1);
        assert_eq!(std::fs::read(dir.path().join("DG2.bin")).unwrap(), p.dg2);
    }
}
