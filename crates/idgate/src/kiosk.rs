//! `idgate kiosk`: the document step of a live session with a real chip on a PC/SC reader, the
//! liveness step left to the hosted page (or another client) on the same machine
//! (docs/verify.md "Reading a real chip: the terminal side").
//!
//! It is a mobile client ([`idgate_phone::client`]) whose chip is read by `emrtd`'s terminal:
//! hello (the active-authentication challenge), the read (BAC or PACE, secure messaging, every
//! file the SOD lists), INTERNAL AUTHENTICATE over the server's challenge, chip authentication
//! with the server as the terminal (the APDUs it returns relayed through the reader's secure
//! channel, [`emrtd::reader::Reader::relay_chip_authentication`]), the upload, the verdict.
//! A chip that cannot be read is reported (`document/failure`), which uses one of the session's
//! reads; a wrong MRZ or CAN is not (nothing reached the chip's data, the operator retypes it).
//!
//! The reader's API is synchronous (it is shaped for phone bindings), so each stretch of chip
//! work runs on a blocking thread, the reader handed there and back.
//!
//! Progress goes to stderr; stdout carries what the next client needs (the attempt and its deep
//! link, when the kiosk made the handoff) and the verdict. The MRZ, the CAN and the chip's files
//! never appear in any output or error; the attempt token appears only there, on stdout, and only
//! for an attempt the kiosk created.

use std::path::PathBuf;

use anyhow::{Context as _, anyhow, bail};
use clap::Args;
use emrtd::reader::{AccessKey, PaceMapping, PaceParams, ReadError, Reader, Transport};
use emrtd::sm::SmCipher;
use emrtd::testkit::card::{CardBehaviour, VirtualCard};
use idgate_face::testkit::TestPortrait;
use reqwest::Url;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::passport_read::{explain, parse_access_key, read_with, reader_name};
use crate::simulate::{Target, load_faces};
use idgate_phone::Outcome;
use idgate_phone::client::{
    DocumentUpload, Handoff, HandoffAuth, Hello, MobileClient, Phase, Verdict,
};
use idgate_phone::device::{photos_dir, placeholder_portrait};

/// The reader a kiosk drives: PC/SC, or the test kit's virtual chip; sent to blocking threads.
type KioskReader = Reader<Box<dyn Transport + Send>>;

/// Exit status of a rejected document (or an unreadable chip), as `idgate passport read` exits
/// with 2 on a document that is not authentic; 1 is any other error.
const REJECTED_EXIT: i32 = 2;

/// Read a passport's chip for a live session (the document step); the liveness step stays with
/// the hosted page.
#[derive(Debug, Args)]
#[command(after_help = KIOSK_HELP)]
pub struct KioskArgs {
    /// The attempt to continue: the deep link `idgate://verify?d=…` or its `d=` payload (the
    /// handoff's), or the session's verification URL `…/verify/vs_…?cancel_token=…` (then the
    /// kiosk makes the handoff and prints the attempt's token and deep link).
    #[arg(value_name = "URL|DEEP_LINK|PAYLOAD")]
    pub input: String,
    /// The PC/SC reader, as `idgate passport readers` lists it. Default: the only one connected.
    #[arg(long)]
    pub reader: Option<String>,
    /// The access key from the MRZ: document number, date of birth, date of expiry (YYMMDD),
    /// comma-separated. May be given in the environment instead, out of the process list.
    #[arg(
        long,
        env = "IDGATE_PASSPORT_MRZ",
        hide_env_values = true,
        conflicts_with = "can"
    )]
    pub mrz: Option<String>,
    /// The card access number printed on the document (PACE only).
    #[arg(long, env = "IDGATE_PASSPORT_CAN", hide_env_values = true)]
    pub can: Option<String>,
    /// The server (default: the one the payload or the verification URL names).
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// This kiosk's identifier for hello (default: derived from the machine id, stable across
    /// runs, so a rerun on the same attempt is the same device).
    #[arg(long, env = "IDGATE_KIOSK_DEVICE_ID")]
    pub device_id: Option<String>,
    /// Test only: instead of a reader, an in-process virtual chip holding a factory passport
    /// (test-mode sessions trust its CSCA), read with its own MRZ; its portrait is the test
    /// photos' (--photos) so the liveness step can match it.
    #[arg(long, hide = true, conflicts_with_all = ["reader", "mrz", "can"])]
    pub virtual_passport: bool,
    /// With --virtual-passport: the chip leaves the field at this APDU (an unreadable chip).
    #[arg(long, value_name = "N", hide = true, requires = "virtual_passport")]
    pub virtual_card_removed_after: Option<u64>,
    /// With --virtual-passport: the test photos (default: $IDGATE_FACE_MODELS/photos).
    #[arg(long, value_name = "DIR", hide = true, requires = "virtual_passport")]
    pub photos: Option<PathBuf>,
    /// One JSON object per line on stdout (`handoff`, `verdict`) instead of text.
    #[arg(long)]
    pub json: bool,
}

const KIOSK_HELP: &str = "\
The liveness step continues on the hosted page (or another client) with the same attempt.
Exit status: 0 accepted; 2 rejected or unreadable (run again while reads are left); 1 other errors.";

/// Runs the document step; see the module documentation.
pub fn run(args: KioskArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let verdict = runtime.block_on(kiosk(args))?;
    if verdict.accepted() {
        Ok(())
    } else {
        std::process::exit(REJECTED_EXIT)
    }
}

/// The chip and its access key, ready before the server is asked for anything: a missing reader
/// or PC/SC support fails without using the attempt.
fn open_chip(args: &KioskArgs) -> anyhow::Result<(KioskReader, AccessKey)> {
    if args.virtual_passport {
        let portrait = virtual_portrait(args.photos.clone());
        let passport = Outcome::Succeeded.passport(&portrait)?;
        let key = AccessKey::Mrz(passport.mrz_key().map_err(|e| anyhow!("{e}"))?);
        // PACE (generic mapping, AES) so the kiosk path runs the protocol modern chips use.
        let behaviour = CardBehaviour {
            pace: Some(PaceParams {
                mapping: PaceMapping::EcdhGeneric,
                cipher: SmCipher::Aes128,
                parameter_id: 12,
                name_parameters: false,
            }),
            remove_after_apdus: args.virtual_card_removed_after,
            ..CardBehaviour::default()
        };
        let card =
            VirtualCard::new(&passport, behaviour).map_err(|e| anyhow!("virtual chip: {e}"))?;
        eprintln!("virtual passport: a factory passport on an in-process chip (test only)");
        return Ok((Reader::new(Box::new(card)), key));
    }
    if args.mrz.is_none() && args.can.is_none() {
        bail!("give the chip's access key: --mrz DOCNO,DOB,EXPIRY or --can N");
    }
    let key = parse_access_key(args.mrz.as_deref(), args.can.as_deref())?;
    let name = reader_name(args.reader.as_deref())?;
    let transport = idgate_reader::PcscTransport::connect(&name)?;
    eprintln!("reader {name}: card connected");
    Ok((Reader::new(Box::new(transport)), key))
}

/// The test photos' portrait, or a placeholder (the document step passes; no live face can
/// match it) when the photos are not there.
fn virtual_portrait(photos: Option<PathBuf>) -> TestPortrait {
    let dir = photos_dir(photos);
    match load_faces(&dir) {
        Ok(faces) => faces.portrait_jpeg().clone(),
        Err(e) => {
            eprintln!("{e:#}; the virtual passport gets a placeholder portrait no face matches");
            placeholder_portrait()
        }
    }
}

/// What the kiosk was given: an attempt to continue, or a session to hand off first.
enum Input {
    Attempt { server: Url, attempt: Handoff },
    Session(Target),
}

impl Input {
    fn parse(input: &str) -> anyhow::Result<Self> {
        let input = input.trim();
        if input.starts_with("http://") || input.starts_with("https://") {
            let target = Target::parse(input, None)?;
            if target.cancel_token.is_none() {
                bail!(
                    "the verification URL carries no cancel_token: pass the URL the session \
                     answered with (`…/verify/vs_…?cancel_token=…`)"
                );
            }
            return Ok(Self::Session(target));
        }
        let (server, attempt) = Handoff::from_payload(input).context("the handoff payload")?;
        Ok(Self::Attempt { server, attempt })
    }
}

async fn kiosk(args: KioskArgs) -> anyhow::Result<Verdict> {
    let input = Input::parse(&args.input)?;
    let (reader, key) = open_chip(&args)?;
    let server_flag = args
        .server
        .as_deref()
        .map(|s| Url::parse(s).context("--server is not a URL"))
        .transpose()?;
    let (client, attempt) = match input {
        Input::Attempt { server, attempt } => {
            (MobileClient::new(&server_flag.unwrap_or(server))?, attempt)
        }
        Input::Session(target) => {
            let client = MobileClient::new(server_flag.as_ref().unwrap_or(&target.server))?;
            let auth = HandoffAuth::CancelToken(target.cancel_token.clone().unwrap_or_default());
            let attempt = client
                .handoff(&target.session_id, &auth)
                .await?
                .into_data("handoff")?;
            print_handoff(&attempt, args.json);
            (client, attempt)
        }
    };
    let device_id = args.device_id.clone().unwrap_or_else(machine_device_id);
    let hello = client
        .hello(&attempt, &device_id, env!("CARGO_PKG_VERSION"))
        .await?
        .into_data("hello")?;
    eprintln!(
        "hello: {} mode, attempt waits for `{}`, clone_detection {}",
        hello.environment, hello.phase, hello.required_checks.clone_detection
    );
    client
        .phase(&attempt, Phase::NfcReading)
        .await?
        .into_data("phase")?;

    let verdict = match document(&client, &attempt, &hello, reader, key).await? {
        Step::Uploaded(verdict) => verdict,
        Step::Unreadable(error) => {
            let reason = format!("{error}");
            eprintln!("{:#}", explain(error));
            let report_id = idgate_core::id::random_alphanumeric(32);
            client
                .document_failure(&attempt, &reason, &report_id)
                .await?
                .into_data("document/failure")?
        }
    };
    report(&verdict, &attempt, args.json);
    Ok(verdict)
}

/// How the document step ended on this side.
enum Step {
    Uploaded(Verdict),
    /// The chip could not be read to the end; reported to the server.
    Unreadable(ReadError),
}

/// The read, the chip's proofs and the upload.
async fn document(
    client: &MobileClient,
    attempt: &Handoff,
    hello: &Hello,
    reader: KioskReader,
    key: AccessKey,
) -> anyhow::Result<Step> {
    let challenge = hello.active_authentication_challenge.clone();
    let (reader, read) = blocking(reader, move |reader| {
        let (files, _) = read_with(reader, &key, &mut |line| eprintln!("{line}"))?;
        // Before chip authentication: the relay ends the session active authentication runs in.
        let signature = if files.dg15_spki().is_some() {
            match reader.active_authenticate(&challenge) {
                Ok(signature) => Some(signature),
                Err(e) if lost_chip(&e) => return Err(e),
                Err(e) => {
                    // The server decides what a missing proof means (clone_detection).
                    eprintln!("active authentication: the chip refused ({e})");
                    None
                }
            }
        } else {
            None
        };
        Ok((files, signature))
    })
    .await?;
    let (files, signature) = match read {
        Ok(read) => read,
        Err(e @ (ReadError::WrongAccessKey { .. } | ReadError::InvalidAccessKey(_))) => {
            // Not the chip's fault and nothing read: no read of the session is used.
            return Err(explain(e));
        }
        Err(e) => return Ok(Step::Unreadable(e)),
    };
    if signature.is_some() {
        eprintln!("active authentication: the chip signed hello's challenge");
    }
    let mut upload = DocumentUpload::from_files(&files);
    upload.aa_signature = signature;

    if let (Some(dg14), true) = (upload.dg14.clone(), hello.chip_authentication.supported) {
        let reply = client.chip_authentication(attempt, &dg14).await?;
        match reply.result {
            Ok(instructions) => {
                let instructions = emrtd::chip_auth::ClientInstructions::from(instructions);
                let (_, relayed) = blocking(reader, move |reader| {
                    reader.relay_chip_authentication(&instructions)
                })
                .await?;
                match relayed {
                    Ok(response) => {
                        eprintln!("chip authentication: relayed, the chip answered");
                        upload.ca_response = Some(response);
                    }
                    Err(e) if lost_chip(&e) => return Ok(Step::Unreadable(e)),
                    Err(e) => eprintln!("chip authentication: the chip refused ({e})"),
                }
            }
            Err(e) => eprintln!(
                "chip authentication: the server answered {} {} ({})",
                reply.status, e.code, e.message
            ),
        }
    }
    let verdict = client
        .document(attempt, &upload)
        .await?
        .into_data("document")?;
    Ok(Step::Uploaded(verdict))
}

/// A failure of the read itself (the card left, the session broke, the chip answered nonsense),
/// as opposed to a chip that declined a protocol.
fn lost_chip(e: &ReadError) -> bool {
    matches!(
        e,
        ReadError::CardRemoved
            | ReadError::BadMac
            | ReadError::Transport(_)
            | ReadError::HostileAnswer(_)
            | ReadError::NotAuthenticated
    )
}

/// Runs `work` with the reader on a blocking thread and hands the reader back.
async fn blocking<R: Send + 'static>(
    mut reader: KioskReader,
    work: impl FnOnce(&mut KioskReader) -> R + Send + 'static,
) -> anyhow::Result<(KioskReader, R)> {
    tokio::task::spawn_blocking(move || {
        let result = work(&mut reader);
        (reader, result)
    })
    .await
    .map_err(|e| anyhow!("the chip thread stopped: {e}"))
}

/// A stable identifier of this machine for hello: a digest of `/etc/machine-id` (else the host
/// name), so the id says nothing about the machine and a rerun binds as the same device.
fn machine_device_id() -> String {
    let source = std::fs::read_to_string("/etc/machine-id")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let digest = Sha256::digest(format!("idgate kiosk device\n{}", source.trim()).as_bytes());
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("idgate-kiosk-{hex}")
}

/// The attempt the kiosk handed off, for the client that continues with the liveness step.
fn print_handoff(attempt: &Handoff, json: bool) {
    let deep_link = attempt.deep_link.as_deref().unwrap_or_default();
    if json {
        println!(
            "{}",
            json!({ "handoff": {
                "attempt_id": attempt.attempt_id,
                "token": attempt.token,
                "token_expires_at": attempt.token_expires_at,
                "deep_link": deep_link,
            }})
        );
    } else {
        println!("attempt: {}", attempt.attempt_id);
        println!("attempt token: {}", attempt.token);
        println!("deep link: {deep_link}");
    }
}

/// The verdict on stdout, and on stderr what the operator does next.
fn report(verdict: &Verdict, attempt: &Handoff, json: bool) {
    if json {
        println!(
            "{}",
            json!({ "verdict": {
                "attempt_id": attempt.attempt_id,
                "verdict": verdict.verdict,
                "failure_code": verdict.failure_code,
                "nfc_tries_left": verdict.nfc_tries_left,
                "liveness_tries_left": verdict.liveness_tries_left,
                "terminal": verdict.terminal,
            }})
        );
    } else {
        println!(
            "document {}{}",
            verdict.verdict,
            verdict
                .failure_code
                .as_deref()
                .map(|c| format!(": {c}"))
                .unwrap_or_default()
        );
    }
    if verdict.accepted() {
        eprintln!("the liveness step continues on the hosted page (or another client)");
    } else if verdict.terminal {
        eprintln!("the session has failed: no reads are left");
    } else {
        eprintln!(
            "{} read(s) left: put the document on the reader and run idgate kiosk again",
            verdict.nfc_tries_left
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;

    #[test]
    fn a_deep_link_and_its_payload_name_the_same_attempt() {
        use base64::Engine as _;
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            json!({"v": 1, "server": "http://127.0.0.1:9", "attempt_id": "va_abc", "token": "t"})
                .to_string(),
        );
        for input in [payload.clone(), format!("idgate://verify?d={payload}")] {
            let Input::Attempt { server, attempt } = Input::parse(&input).unwrap() else {
                panic!("not an attempt");
            };
            assert_eq!(server.as_str(), "http://127.0.0.1:9/");
            assert_eq!(attempt.attempt_id, "va_abc");
            assert_eq!(attempt.token, "t");
        }
    }

    #[test]
    fn a_verification_url_without_its_cancel_token_is_refused() {
        assert!(Input::parse("http://h/verify/vs_abc").is_err());
        assert!(matches!(
            Input::parse("http://h/verify/vs_abc?cancel_token=x"),
            Ok(Input::Session(_))
        ));
    }

    #[test]
    fn a_hostile_payload_is_refused_without_a_panic() {
        use base64::Engine as _;
        let enc = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        for bad in [
            String::new(),
            "!!!".to_owned(),
            "idgate://verify".to_owned(),
            enc(json!({"v": 2, "server": "http://h", "attempt_id": "va_a", "token": "t"})),
            enc(json!({"v": 1, "server": "file:///x", "attempt_id": "va_a", "token": "t"})),
            enc(json!({"v": 1, "server": "http://h", "attempt_id": "va_../x", "token": "t"})),
            "A".repeat(10_000),
        ] {
            assert!(Input::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_device_id_is_stable_and_reveals_nothing() {
        let id = machine_device_id();
        assert_eq!(id, machine_device_id());
        assert!(
            id.starts_with("idgate-kiosk-") && id.len() == 13 + 24,
            "{id}"
        );
    }

    #[test]
    fn only_a_lost_chip_is_an_unreadable_one() {
        assert!(lost_chip(&ReadError::CardRemoved));
        assert!(!lost_chip(&ReadError::AccessDenied { sw: 0x6982 }));
        assert!(!lost_chip(&ReadError::WrongAccessKey { tries_left: None }));
    }
}
