"""Caducée settings, read from the environment. See docs/operations.md for the full list."""

from __future__ import annotations

from pathlib import Path

from caducee.config.env import (
    data_dir,
    database_config,
    env_bool,
    env_int,
    env_list,
    env_path,
    env_str,
    secret_key,
)
from caducee.core.endpoints import SANDBOX_SETTINGS_FILE, endpoint_settings, read_settings_file

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = data_dir()

DEBUG = env_bool("CADUCEE_DEBUG", False)
SECRET_KEY = secret_key(DATA_DIR)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# National services → the local sandboxes: their endpoint settings are those `caducee sandbox` publishes in
# DATA_DIR/sandbox.env, read once at the end of this file (core/endpoints.py); practice data is test data (R28).
SANDBOX = env_bool("CADUCEE_SANDBOX", False)
# Where the public specifications live (XSDs used by the sandbox and the tests).
REFERENCE_DIR = env_path("CADUCEE_REFERENCE_DIR") or (BASE_DIR.parent.parent.parent / "shared" / "reference")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "caducee.core",
    "caducee.accounts",
    "caducee.identity",
    "caducee.patients",
    "caducee.record",
    "caducee.documents",
    "caducee.dmp",
    "caducee.mss",
    "caducee.sandbox",
    "caducee.cabinet",  # the top floor: use cases composing the apps above (issue 12 §1)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "caducee.core.middleware.SecurityHeadersMiddleware",
    # Outside the login check, so the redirect to the login page carries X-Frame-Options too.
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "caducee.accounts.middleware.LoginRequiredMiddleware",
    # Administrators: TOTP enrolment and an expired password come first after a password login (issue 6, IAM.92).
    "caducee.accounts.middleware.AccountSecurityMiddleware",
    # Uploads: a request body larger than UPLOAD_MAX_BYTES is refused before it is read (issue 6 §3).
    "caducee.core.uploads.UploadLimitMiddleware",
    # Control characters removed from every query and form parameter before the views (issue 13 §4).
    "caducee.core.inputs.InputCleaningMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "caducee.accounts.psc.middleware.PscSessionMiddleware",
]

ROOT_URLCONF = "caducee.config.urls"
WSGI_APPLICATION = "caducee.config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "caducee.accounts.context_processors.navigation",
                "caducee.accounts.context_processors.replacement",
                "caducee.cabinet.context_processors.messaging",
            ],
        },
    }
]

DATABASES = {"default": database_config(env_str("DATABASE_URL"), DATA_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "patients:list"
# Strong hashing: Django's PBKDF2 (1,000,000+ iterations in 5.2) first; scrypt accepted.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    # PGSSI-S (SC.SSI/IE.36): 12 characters from 3 classes for everyone; administrators 16 from all 4 (IAM.92).
    {"NAME": "caducee.accounts.passwords.CharacterClassesValidator", "OPTIONS": {"min_classes": 3}},
    {"NAME": "caducee.accounts.passwords.AdministratorPasswordValidator", "OPTIONS": {"min_length": 16}},
    {"NAME": "caducee.accounts.passwords.NotReusedPasswordValidator"},
]
# SC.SSI/IAM.92: an administrator's password expires after a year at most; IAM.93: an administrator account
# unused for this many days is disabled (`caducee accounts-disable-dormant`, and at its next login attempt).
ADMIN_PASSWORD_MAX_AGE_DAYS = env_int("CADUCEE_ADMIN_PASSWORD_MAX_AGE_DAYS", 365, minimum=1)
# IAM.92: an administrator may not reuse any of this many previous passwords (besides the current one).
ADMIN_PASSWORD_HISTORY = env_int("CADUCEE_ADMIN_PASSWORD_HISTORY", 5, minimum=1)
ADMIN_DORMANT_DAYS = env_int("CADUCEE_ADMIN_DORMANT_DAYS", 365, minimum=1)
# TOTP second factor (accounts/totp.py): the label in the authenticator app; the code step follows the password
# within this delay.
TOTP_ISSUER = env_str("CADUCEE_TOTP_ISSUER", "Caducée")
TOTP_PENDING_SECONDS = env_int("CADUCEE_TOTP_PENDING_SECONDS", 300, minimum=30)
# SC.SSI/IE.34: renew the TOTP secret every this many days (0: never); the user enrols again after the login.
TOTP_RENEWAL_DAYS = env_int("CADUCEE_TOTP_RENEWAL_DAYS", 0)
# SC.SSI/IAM.90: authentication events (auth.*) forwarded live as RFC 5424 syslog: "host:port" (UDP),
# "tcp://host:port", or a unix socket path such as /dev/log. Empty: kept in the audit trail only.
SYSLOG_ADDRESS = env_str("CADUCEE_SYSLOG_ADDRESS", "")
# Lockout after repeated failures (PGSSI-S); counted per account.
LOGIN_MAX_FAILURES = env_int("CADUCEE_LOGIN_MAX_FAILURES", 5, minimum=1)
LOGIN_LOCKOUT_MINUTES = env_int("CADUCEE_LOGIN_LOCKOUT_MINUTES", 15, minimum=1)

# Inactivity logout: the session cookie lives IDLE_TIMEOUT after the last request (SC.SSI/IE.38).
IDLE_TIMEOUT_MINUTES = env_int("CADUCEE_IDLE_TIMEOUT_MINUTES", 30, minimum=1)
SESSION_COOKIE_AGE = IDLE_TIMEOUT_MINUTES * 60
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
HTTPS = env_bool("CADUCEE_HTTPS", False)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = 31536000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Uploads (issue 6 §3): files above 2.5 MB go to a temporary file, not memory; at most 10 files per request; a
# request body above UPLOAD_MAX_BYTES is refused (413); each upload view also checks the type by its magic bytes
# (core/uploads.py).
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_NUMBER_FILES = 10
UPLOAD_MAX_BYTES = env_int("CADUCEE_UPLOAD_MAX_BYTES", 20 * 1024 * 1024, minimum=1024)

LANGUAGE_CODE = "fr-fr"
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# INSi (CNAM teleservice). Real endpoint and IGC-Santé certificate paths; see docs/operations.md.
INSI_URL = env_str("CADUCEE_INSI_URL", "")
INSI_CLIENT_CERT = env_path("CADUCEE_INSI_CERT")
INSI_CLIENT_KEY = env_path("CADUCEE_INSI_KEY")
INSI_CA_BUNDLE = env_path("CADUCEE_INSI_CA")
INSI_TIMEOUT_SECONDS = env_int("CADUCEE_INSI_TIMEOUT", 10, minimum=1)
# IDAM: the software authorisation number given by the CNDA (ContexteLPS/LPS/IDAM R="4").
INSI_IDAM = env_str("CADUCEE_INSI_IDAM", "TESTSGIE0000")
INSI_EMETTEUR = env_str("CADUCEE_INSI_EMETTEUR", "")
# DMP (DMPi web services, docs/dmp.md). Base URL of the four services (/patients, /habilitations, /registry,
# /repository), the structure's IGC-Santé authentication certificate (mutual TLS) and signature certificate
# (VIHF and XAdES); the production values come with the CNDA kit (docs/operations.md).
DMP_URL = env_str("CADUCEE_DMP_URL", "")
DMP_AUTH_CERT = env_path("CADUCEE_DMP_AUTH_CERT")
DMP_AUTH_KEY = env_path("CADUCEE_DMP_AUTH_KEY")
DMP_SIGN_CERT = env_path("CADUCEE_DMP_SIGN_CERT")
DMP_SIGN_KEY = env_path("CADUCEE_DMP_SIGN_KEY")
DMP_CA_BUNDLE = env_path("CADUCEE_DMP_CA")
DMP_TIMEOUT_SECONDS = env_int("CADUCEE_DMP_TIMEOUT", 20, minimum=1)
# LPS_ID_HOMOLOGATION_DMP of the VIHF: known after the CNDA homologation.
DMP_HOMOLOGATION_ID = env_str("CADUCEE_DMP_HOMOLOGATION", "")
# MSSanté (issue 5): the operator's SMTP submission and IMAP4rev1 hosts (STARTTLS on both, SC.MSS/CONF.05/06), its
# OAuth2 token endpoint (the sandbox's, standing for Pro Santé Connect until issue 6), the CA bundle checking the
# operator, and the practice's IGC-Santé ORG AUTH_CLI certificate (token endpoint and APP mailboxes, CONF.12).
MSS_SMTP_HOST = env_str("CADUCEE_MSS_SMTP_HOST", "")
MSS_SMTP_PORT = env_int("CADUCEE_MSS_SMTP_PORT", 587, minimum=1)
MSS_IMAP_HOST = env_str("CADUCEE_MSS_IMAP_HOST", "")
MSS_IMAP_PORT = env_int("CADUCEE_MSS_IMAP_PORT", 143, minimum=1)
MSS_TOKEN_URL = env_str("CADUCEE_MSS_TOKEN_URL", "")
MSS_CA_BUNDLE = env_path("CADUCEE_MSS_CA")
MSS_CLIENT_CERT = env_path("CADUCEE_MSS_CLIENT_CERT")
MSS_CLIENT_KEY = env_path("CADUCEE_MSS_CLIENT_KEY")
MSS_TIMEOUT_SECONDS = env_int("CADUCEE_MSS_TIMEOUT", 20, minimum=1)
# X-MSS-NIL (SC.MSS/CONF.16): the software number given at the Ségur referencing, on every mail sent.
MSS_NIL = env_str("CADUCEE_MSS_NIL", "")
# The test citizen mailbox of the "Prestation Ségur" proof (notes §2.5: the ANS examples' test INS).
MSS_PATIENT_TEST_ADDRESS = env_str("CADUCEE_MSS_PATIENT_TEST_ADDRESS", "279035121518989@patient.mssante.fr")
# Received messages larger than this are kept unread and quarantined (issue 5 §8).
MSS_MAX_MESSAGE_BYTES = env_int("CADUCEE_MSS_MAX_MESSAGE_BYTES", 50 * 1024 * 1024, minimum=1024)
# Quarantined received files (hostile, broken or too large) are kept this many days, then deleted — the rows stay
# (mss/retention.py: `caducee mss purge`, and once a day by `caducee mss sync --loop`; issue 13 §4).
MSS_QUARANTINE_DAYS = env_int("CADUCEE_MSS_QUARANTINE_DAYS", 90, minimum=1)
# INS rules R52/R53/R55 before automatic filing: "r52" asks INSi only for an INS not already known here with the same
# four traits (the rule as written), "always" checks every incoming INS.
MSS_INSI_VERIFY = env_str("CADUCEE_MSS_INSI_VERIFY", "r52")
# Outbox (core/outbox.py): how long a worker's claim holds before another worker may resend (a worker killed
# mid-send), and the first retry delay after a transient failure (doubling up to one hour).
OUTBOX_LEASE_SECONDS = env_int("CADUCEE_OUTBOX_LEASE_SECONDS", 120, minimum=1)
OUTBOX_BACKOFF_BASE_SECONDS = env_int("CADUCEE_OUTBOX_BACKOFF_SECONDS", 30, minimum=1)
SOFTWARE_NAME = "Caducee"
SOFTWARE_VERSION = "0.1.0"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("CADUCEE_LOG_LEVEL", "INFO")},
    # fpdf2's font subsetting logs every step at INFO: noise in commands' output (`caducee vsm`).
    "loggers": {"fontTools": {"level": "WARNING"}},
}

# Carte Vitale reader: "sesam" (SESAM-Vitale components) or "fake" (simulated cards: what the sandbox publishes).
VITALE_READER = env_str("CADUCEE_VITALE_READER", "sesam")

# Annuaire Santé (issue 5 §5, caducee.mss.annuaire): FHIR API v2 base URL, the application's API key (header
# ESANTE-API-KEY, from portal.api.esante.gouv.fr; in the environment or, better, in a file readable by Caducée only),
# an optional CA bundle, and the read timeout (the service answers within 30 s or fails).
ANNUAIRE_URL = env_str("CADUCEE_ANNUAIRE_URL", "https://gateway.api.esante.gouv.fr/fhir/v2")
ANNUAIRE_API_KEY = env_str("CADUCEE_ANNUAIRE_API_KEY", "")
ANNUAIRE_API_KEY_FILE = env_path("CADUCEE_ANNUAIRE_API_KEY_FILE")
ANNUAIRE_CA_BUNDLE = env_path("CADUCEE_ANNUAIRE_CA")
ANNUAIRE_TIMEOUT_SECONDS = env_int("CADUCEE_ANNUAIRE_TIMEOUT", 30, minimum=1)

# Pro Santé Connect (issue 6): OpenID Connect with the e-CPS. The metadata URL is given in full (PSC's ends in
# `wallet-openid-configuration`) and the authorization endpoint is the wallet's (notes/psc §1.1). Production values:
# metadata https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet/.well-known/wallet-openid-configuration,
# wallet https://wallet.esw.esante.gouv.fr/auth. Client authentication: secret (Basic) or mutual TLS (cert + key).
PSC_METADATA_URL = env_str("CADUCEE_PSC_METADATA_URL", "")
PSC_AUTHORIZATION_URL = env_str("CADUCEE_PSC_AUTHORIZATION_URL", "")
PSC_CLIENT_ID = env_str("CADUCEE_PSC_CLIENT_ID", "")
PSC_CLIENT_SECRET = env_str("CADUCEE_PSC_CLIENT_SECRET", "")
PSC_CLIENT_SECRET_FILE = env_path("CADUCEE_PSC_CLIENT_SECRET_FILE")
PSC_CLIENT_CERT = env_path("CADUCEE_PSC_CLIENT_CERT")
PSC_CLIENT_KEY = env_path("CADUCEE_PSC_CLIENT_KEY")
PSC_CA_BUNDLE = env_path("CADUCEE_PSC_CA")
# A private key (PEM) to decrypt userinfo answered as JWE, when the client is registered so with PSC.
PSC_USERINFO_DECRYPTION_KEY = env_path("CADUCEE_PSC_USERINFO_DECRYPTION_KEY")
PSC_TIMEOUT_SECONDS = env_int("CADUCEE_PSC_TIMEOUT", 10, minimum=1)
# The public base URL of Caducée as registered with PSC (redirect and post-logout URIs); empty = from the request.
PSC_PUBLIC_URL = env_str("CADUCEE_PSC_PUBLIC_URL", "")

# One endpoint path (issue 12 §6): with CADUCEE_SANDBOX=1 the national services' endpoint settings above (every
# variable of core.endpoints.ENDPOINT_VARIABLES) are those `caducee sandbox` published in DATA_DIR/sandbox.env, read
# once, here; the environment's are ignored, so a sandbox run never reaches a real service. Without it the file is
# never read. Product code reads only the settings (docs/operations.md « Endpoints »).
if SANDBOX:
    globals().update(endpoint_settings(read_settings_file(DATA_DIR / SANDBOX_SETTINGS_FILE), complete=True))
