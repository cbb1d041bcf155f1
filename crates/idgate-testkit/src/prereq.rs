//! The prerequisites a test can need, each with the one way to provide it.

/// The environment variable naming the PostgreSQL server the tests may use.
pub const DATABASE_URL_ENV: &str = "IDGATE_TEST_DATABASE_URL";

/// Something outside the Rust toolchain that a test needs. `.ci/run` provides every one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prereq {
    /// A PostgreSQL server: every storage and API test also runs on it.
    Postgres,
    /// Real-world passport files and master lists in `../shared/testdata`.
    SharedTestdata,
    /// The API's seed pages in `../shared/seeds`.
    Seeds,
    /// The registry photos of the face tests (the weights are vendored).
    FaceModels,
    /// OpenJPEG's command-line tools, to make JPEG 2000 portraits.
    OpenJpeg,
    /// `python3`, for the repository's check scripts.
    Python,
    /// Python with the `standardwebhooks` and `jwcrypto` libraries (independent receiver).
    PythonReceiver,
    /// Node.js with the `standardwebhooks` and `jose` packages (independent receiver).
    NodeReceiver,
    /// Schemathesis (`st`), which checks the OpenAPI document against a running server.
    Schemathesis,
    /// The PC/SC library to link against (Debian's `libpcsclite-dev`): `scripts/test.sh` builds
    /// the `idgate-reader/pcsc` feature only where it is installed.
    PcscLibrary,
    /// A running `pcscd` with the virtual smart card reader (Debian's `vsmartcard-vpcd`).
    Pcscd,
    /// The virtual smart card project's emulator (Debian's `vsmartcard-vpicc`) with
    /// PyCryptodome, the independent passport chip behind `scripts/vicc-passport.py`.
    PassportEmulator,
    /// A Chromium to drive headless (Debian's `chromium`), for the hosted page's tests.
    Chromium,
    /// axe-core, the accessibility checker the page tests inject (`scripts/browser`).
    AxeCore,
}

impl Prereq {
    /// The name the skip summary counts by.
    pub fn name(self) -> &'static str {
        match self {
            Self::Postgres => "postgresql",
            Self::SharedTestdata => "shared-testdata",
            Self::Seeds => "shared-seeds",
            Self::FaceModels => "face-models",
            Self::OpenJpeg => "openjpeg-tools",
            Self::Python => "python3",
            Self::PythonReceiver => "python-receiver",
            Self::NodeReceiver => "node-receiver",
            Self::Schemathesis => "schemathesis",
            Self::PcscLibrary => "libpcsclite-dev",
            Self::Pcscd => "pcscd-vpcd",
            Self::PassportEmulator => "vsmartcard-vpicc",
            Self::Chromium => "chromium",
            Self::AxeCore => "axe-core",
        }
    }

    /// How to provide it.
    pub fn how(self) -> &'static str {
        match self {
            Self::Postgres => {
                "run `eval \"$(scripts/start-postgres.sh)\"` to start one and set IDGATE_TEST_DATABASE_URL"
            }
            Self::SharedTestdata => {
                "place the shared test data beside the checkout (../shared/testdata)"
            }
            Self::Seeds => "place the API seed pages beside the checkout (../shared/seeds)",
            Self::FaceModels => "run scripts/fetch-face-models.sh",
            Self::OpenJpeg => "install Debian's libopenjp2-tools (opj_compress)",
            Self::Python => "install Python 3 (Debian's python3)",
            Self::PythonReceiver => "run `pip install standardwebhooks jwcrypto`",
            Self::NodeReceiver => "run `cd scripts/webhook-interop && npm ci`",
            Self::Schemathesis => "run `pip install schemathesis`",
            Self::PcscLibrary => {
                "install Debian's libpcsclite-dev; scripts/test.sh then builds with PC/SC support"
            }
            Self::Pcscd => {
                "install Debian's pcscd and vsmartcard-vpcd and start `pcscd` (.ci/run does both)"
            }
            Self::PassportEmulator => {
                "install Debian's vsmartcard-vpicc and python3-pycryptodome (.ci/run does)"
            }
            Self::Chromium => {
                "install Debian's chromium and fonts-dejavu-core (.ci/run does), or set IDGATE_CHROMIUM to a Chromium or Chrome binary"
            }
            Self::AxeCore => "run `npm ci --prefix scripts/browser`",
        }
    }
}
