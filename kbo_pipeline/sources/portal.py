"""Downloading extracts from the KBO open-data portal (protocol in docs/extract-format.md): form login, the
listing page, one download per file; a 401 or an empty listing means the session expired: log in again
and retry once. Downloads land atomically (temporary name, verified as a ZIP, then renamed).

Credentials come from KBO_USERNAME / KBO_PASSWORD and never appear in a message or a log line. The
portal is spoken to over https only (plain http only where KBO_PORTAL_ALLOW_HTTP says so, for a test
portal on this machine), redirects stay on its host and scheme, and a download is capped in size and
checked against its Content-Length.
"""

import re
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from pathlib import Path

from kbo_pipeline import settings
from kbo_pipeline.core.extract import FILE_NAME, ExtractError, ExtractType, parse_file_name
from kbo_pipeline.errors import FinalError, KboError, TransientError

LINK = re.compile(r'href="([^"]*?(KboOpenData_[^"/?#]+\.zip))"', re.IGNORECASE)


class PortalError(KboError):
    """Anything the portal did: refused, or could not be reached (catch this for both)."""


class PortalRefused(PortalError, FinalError):
    """The portal refused (bad credentials, not a ZIP, HTTP error): the same request fails the same way."""


class PortalUnreachable(PortalError, TransientError):
    """The portal could not be reached: the network, or the portal itself, may come back."""


def portal_client(timeout: float = 120) -> "PortalClient":
    """The client the settings describe (settings.portal: KBO_PORTAL_URL, credentials, ...)."""
    config = settings.portal()
    return PortalClient(
        config.url,
        config.username,
        config.password,
        timeout=timeout,
        allow_http=config.allow_http,
        max_download_bytes=config.max_download_bytes,
    )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """The login answers 302: keep that answer (and its cookies) instead of following it."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to the portal's own scheme and host: the session cookies go nowhere else."""

    def __init__(self, base: str):
        self.origin = urllib.parse.urlsplit(base)[:2]

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        target = urllib.parse.urlsplit(urllib.parse.urljoin(req.full_url, newurl))
        if (target.scheme, target.netloc) != self.origin:
            raise PortalRefused(
                f"the portal redirected to {target.scheme}://{target.netloc}, not its own {'://'.join(self.origin)}: refusing"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


@dataclass
class PortalClient:
    base: str
    username: str = field(repr=False)
    password: str = field(repr=False)
    timeout: float = 120
    allow_http: bool = False  # plain http, for a test portal only
    max_download_bytes: int = settings.DEFAULT_MAX_DOWNLOAD_BYTES
    jar: CookieJar = field(default_factory=CookieJar, repr=False)

    def __post_init__(self):
        if not self.username or not self.password:
            raise PortalRefused("KBO_USERNAME and KBO_PASSWORD must be set to download from the portal")
        scheme = urllib.parse.urlsplit(self.base).scheme
        if scheme != "https" and not (scheme == "http" and self.allow_http):
            raise PortalRefused(
                f"KBO_PORTAL_URL must be an https address, not {self.base!r} (credentials would travel in clear; "
                "KBO_PORTAL_ALLOW_HTTP=1 allows http for a test portal)"
            )
        cookies = urllib.request.HTTPCookieProcessor(self.jar)
        self._opener = urllib.request.build_opener(cookies, _SameOriginRedirects(self.base))
        self._login_opener = urllib.request.build_opener(cookies, _NoRedirect)
        self._logged_in = False

    def login(self) -> None:
        self.jar.clear()
        form = urllib.parse.urlencode({"j_username": self.username, "j_password": self.password, "submit": "Login"})
        request = urllib.request.Request(
            f"{self.base}/static/j_spring_security_check", data=form.encode(), method="POST"
        )
        try:
            with self._login_opener.open(request, timeout=self.timeout) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except urllib.error.URLError as exc:
            raise PortalUnreachable(f"cannot reach the portal at {self.base}: {exc.reason}") from None
        if status not in (200, 302) or not len(self.jar):
            raise PortalRefused(
                f"login to {self.base} failed (HTTP {status}, no session cookie): check KBO_USERNAME and KBO_PASSWORD"
            )
        self._get(f"{self.base}/signup?form=&lang=en").close()
        self._logged_in = True

    def _get(self, url: str):
        try:
            return self._opener.open(url, timeout=self.timeout)
        except urllib.error.HTTPError:
            raise
        except urllib.error.URLError as exc:
            raise PortalUnreachable(f"cannot reach the portal at {self.base}: {exc.reason}") from None

    def _with_session(self, attempt):
        """Run attempt(); on a 401 (or an answer attempt() finds empty), log in again and retry once."""
        if not self._logged_in:
            self.login()
        for retry in (False, True):
            try:
                result = attempt()
                if result is not None:
                    return result
            except urllib.error.HTTPError as exc:
                if exc.code != 401:
                    raise PortalRefused(f"the portal answered HTTP {exc.code} for {exc.url}") from None
            if retry:
                raise PortalRefused("the portal session expired again right after logging in")
            self.login()

    def list_extracts(self) -> list[str]:
        """The file names of every extract on offer, in the listing's order."""

        def attempt():
            with self._get(f"{self.base}/affiliation/xml/?files") as response:
                page = response.read().decode("utf-8", "replace")
            names = list(dict.fromkeys(m.group(2) for m in LINK.finditer(page)))
            return names or None  # no links: an expired session shows an empty page

        return self._with_session(attempt)

    def _copy_checked(self, name: str, response, out) -> None:
        """Copy a download, refusing more than max_download_bytes and anything but the announced length."""
        announced = response.headers.get("Content-Length")
        try:
            expected = int(announced) if announced is not None else None
        except ValueError:
            raise PortalRefused(f"the portal announced a Content-Length of {announced!r}", file=name) from None
        cap = f"more than the {self.max_download_bytes:,} bytes a download may have (KBO_PORTAL_MAX_BYTES)"
        if expected is not None and expected > self.max_download_bytes:
            raise PortalRefused(f"the portal announced {expected:,} bytes, {cap}", file=name)
        received = 0
        while chunk := response.read(1 << 20):
            received += len(chunk)
            if received > self.max_download_bytes:
                raise PortalRefused(f"{cap}", file=name)
            out.write(chunk)
        if expected is not None and received != expected:
            raise PortalRefused(f"the download ended after {received:,} of the {expected:,} bytes announced", file=name)

    def download(self, name: str, folder: Path) -> Path:
        """Download one extract into folder, atomically; returns its path."""
        if not FILE_NAME.match(name):
            raise PortalRefused(f"{name!r} is not an extract file name")
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / name
        partial = folder / f".{name}.part"

        def attempt():
            with (
                self._get(f"{self.base}/affiliation/xml/files/{urllib.parse.quote(name)}") as response,
                open(partial, "wb") as out,
            ):
                self._copy_checked(name, response, out)
            return partial

        try:
            self._with_session(attempt)
            if not zipfile.is_zipfile(partial):
                raise PortalRefused("the portal sent something that is not a ZIP file", file=name)
            with zipfile.ZipFile(partial) as zf:
                broken = zf.testzip()
            if broken is not None:
                raise PortalRefused(f"member {broken} of the download is corrupt", file=name)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(target)
        return target


def wanted_extracts(offered: list[str], landing: Path, latest_applied: int | None) -> list[str]:
    """What to download: the extracts the database lacks (extracts_to_apply) that the landing folder does
    not hold yet."""
    present = {p.name for p in landing.glob("*.zip")} if landing.is_dir() else set()
    return [n for n in extracts_to_apply(offered, latest_applied) if n not in present]


def extracts_to_apply(offered: list[str], latest_applied: int | None) -> list[str]:
    """The portal's extracts the database is behind by, in order: those newer than the latest applied
    (or, with nothing applied, the newest Full and what follows it)."""
    parsed = []
    for name in offered:
        try:
            parsed.append((parse_file_name(name), name))
        except ExtractError:  # a link that is not an extract's name
            continue
    if latest_applied is None:
        fulls = [number for (number, kind), _ in parsed if kind == ExtractType.FULL]
        start = max(fulls) if fulls else min((number for (number, _), _ in parsed), default=0)
        keep = [
            name
            for (number, kind), name in parsed
            if number > start or (number == start and (kind == ExtractType.FULL or not fulls))
        ]
    else:
        keep = [name for (number, kind), name in parsed if number > latest_applied and kind == ExtractType.UPDATE]
    return sorted(keep, key=lambda n: parse_file_name(n)[0])


def fetch_new(client: PortalClient, landing: Path, latest_applied: int | None, log=print) -> list[Path]:
    """Download every wanted extract into the landing folder; returns the new files."""
    fetched = []
    for name in wanted_extracts(client.list_extracts(), landing, latest_applied):
        log(f"downloading {name}")
        fetched.append(client.download(name, landing))
    return fetched
