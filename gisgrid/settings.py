"""Settings, read from ``GISGRID_*`` environment variables by :func:`get_settings`.

Nothing here reads the environment at import time: callers build a :class:`Settings`
with :func:`get_settings` and pass it down (to the cluster, the engine, the app).
"""

from __future__ import annotations

import os
import secrets
from datetime import date
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from gisgrid.errors import InvalidInput

MIN_SECRET_KEY_BYTES = 32


@cache
def _process_secret() -> SecretStr:
    """One random signing key per process, made on first use (never at import)."""
    return SecretStr(secrets.token_urlsafe(48))


class Settings(BaseSettings):
    """Everything gisgrid can be told from outside.

    Examples
    --------
    >>> s = Settings(data_dir=Path("/tmp/x"), _env_file=None)
    >>> s.pgdata_dir
    PosixPath('/tmp/x/pgdata')
    """

    model_config = SettingsConfigDict(env_prefix="GISGRID_", env_file=None, extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="Use this PostgreSQL/PostGIS server instead of the self-managed cluster.",
    )
    data_dir: Path = Field(
        default=Path(".gisgrid"),
        description="Folder of the self-managed cluster (pgdata, socket, log), relative to cwd.",
    )
    db_name: str = "gisgrid"
    db_user: str = "postgres"
    db_port: int = Field(default=5432, ge=1, le=65535)
    db_listen_tcp: bool = Field(
        default=False, description="Also listen on 127.0.0.1:db_port, not only the Unix socket."
    )
    pg_bin_dir: Path | None = Field(
        default=None, description="Folder with initdb/pg_ctl; found from PostGIS when unset."
    )
    server_user: str = Field(
        default="postgres", description="System user that runs the server when gisgrid is root."
    )
    id_salt: SecretStr = Field(
        default=SecretStr("gisgrid-demo-salt-change-me"),
        description="Secret salt for hashing residents' id numbers.",
    )
    secret_key: SecretStr = Field(
        default_factory=_process_secret,
        description=(
            "Key that signs access tokens (HS256), at least 32 bytes (RFC 7518 wants a key as"
            " long as the hash). Unset, a random key is made once per process, so tokens die"
            " with the process: production must set GISGRID_SECRET_KEY."
        ),
    )
    token_ttl_s: int = Field(
        default=3600, ge=60, le=7 * 24 * 3600, description="Lifetime of an access token."
    )
    signin_max_failures_per_user: int = Field(
        default=5, ge=1, description="Failed sign-ins a username may have in the window."
    )
    signin_max_failures_per_client: int = Field(
        default=30, ge=1, description="Failed sign-ins a client address may have in the window."
    )
    signin_window_s: float = Field(
        default=300.0, gt=0, description="The window failed sign-ins are counted over, seconds."
    )
    signin_max_hashing: int = Field(
        default=2, ge=1, description="Password checks (argon2, 64 MiB each) that run at once."
    )
    host: str = "127.0.0.1"
    public_url: str | None = Field(
        default=None,
        description=(
            "The address clients reach the API at (GISGRID_PUBLIC_URL=https://grid.example.org,"
            " a path prefix allowed). Set, every absolute link (TileJSON tiles, OGC API links)"
            " is built from it, never from the request's Host header."
        ),
    )
    trusted_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description=(
            "Without GISGRID_PUBLIC_URL: the Host names this server answers to besides the"
            " loopback names and GISGRID_HOST, comma-separated (GISGRID_TRUSTED_HOSTS="
            "grid.example.org,*.grid.example.org; * for any); another Host is a 400, so no"
            " link is built from a name a stranger sent."
        ),
    )
    port: int = Field(default=8000, ge=1, le=65535)
    pool_size: int = Field(default=5, ge=1)
    holidays: Annotated[tuple[date, ...], NoDecode] = Field(
        default=(),
        description=(
            "Public holidays on which the SLA clock stands still, as comma-separated ISO dates"
            " (GISGRID_HOLIDAYS=2026-10-01,2026-10-02)."
        ),
    )
    escalation_sweep_s: float = Field(
        default=60.0,
        ge=0,
        description=(
            "How often the server's sweeper escalates overdue cases, in seconds (0 turns it"
            " off; `gisgrid incidents sweep` runs one sweep by hand)."
        ),
    )
    escalation_step_days: float = Field(
        default=1.0,
        gt=0,
        description=(
            "Working days a case may stay overdue before it moves one centre up (street ->"
            " district -> city), on the SLA calendar (weekends and holidays do not count)."
        ),
    )
    escalation_urgent_step_h: float = Field(
        default=2.0,
        gt=0,
        description=(
            "For urgent cases: hours overdue per centre up, plain clock time (weekends and"
            " holidays count, as they do for an urgent case's SLA)."
        ),
    )

    tile_cache_mb: int = Field(
        default=256,
        ge=0,
        description="Memory for the in-process tile cache, in MB (0 turns the cache off).",
    )
    tile_renders_per_client: int = Field(
        default=2,
        ge=1,
        description=(
            "Uncached tiles rendered at once for one client (an account, or an address when"
            " anonymous); its further misses wait their turn."
        ),
    )
    tile_render_queue: int = Field(
        default=100,
        ge=0,
        description="A client's misses that may wait for a render slot; past them, 429.",
    )
    tile_invalidation: Literal["tile", "table"] = Field(
        default="tile",
        description=(
            "What an incident write or a passing due time invalidates in the tile cache:"
            " 'tile', only the tiles its point and the areas it counts into reach"
            " (gisgrid.tiles.dirty); 'table', every incident-derived tile (the whole-table"
            " versions of tile_versions)."
        ),
    )
    tile_rollup: bool = Field(
        default=True,
        description=(
            "Tiles read incident counts from the rollup (gisgrid/sql/rollup.sql) where it"
            " answers the filters, and the low-zoom clusters and hexagons from it; False:"
            " every tile reads raw incident rows."
        ),
    )
    cors_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description=(
            "Origins allowed to read the API and tiles from a browser page elsewhere,"
            " comma-separated (GISGRID_CORS_ORIGINS=https://map.example.org), or * for any."
        ),
    )

    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1,
        description=(
            "Largest request body, in bytes (1 MB); a photo upload may be as large as"
            " max_photo_bytes and a /query/within polygon as large as its own limit. A larger"
            " body is a 413, before it is read when its Content-Length says so."
        ),
    )
    max_photo_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1, description="Largest photo accepted, in bytes (10 MB)."
    )
    open311_api_keys: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        default=(),
        description=(
            "Keys that may POST Open311 service requests, comma-separated"
            " (GISGRID_OPEN311_API_KEYS=k1,k2); none set, Open311 POST is refused."
        ),
    )

    basemap_url: str | None = Field(
        default=None,
        description=(
            "Optional raster basemap under the web map, an XYZ template with {z}, {x} and {y}"
            " (GISGRID_BASEMAP_URL=https://tile.example.org/{z}/{x}/{y}.png); unset, the map"
            " has no basemap and needs no internet. gisgrid's data is WGS84: Chinese basemaps"
            " (AMap/Gaode, Tencent, Baidu) are in GCJ-02 or BD-09 and will sit about 500 m off"
            " the data unless they are reprojected first."
        ),
    )
    basemap_attribution: str = Field(
        default="", description="Attribution shown on the map for the basemap (HTML allowed)."
    )

    # The planner's rule (Harbin Pingfang's: at most about 300 households or 1,000 people a
    # grid). The maxima are the rule itself, which the synthetic city also splits its grids
    # by (gisgrid.synth.city.MAX_GRID_HH / MAX_GRID_PEOPLE); the minima keep a grid from being
    # too small to staff: 92 % of the small demo's 4,242 grids meet all four (its grids aim
    # at 150 households; 5 % hold under 40).
    plan_households_min: int = Field(
        default=50, ge=0, description="Fewest households a planned grid should hold."
    )
    plan_households_max: int = Field(
        default=300, ge=1, description="Most households a planned grid may hold."
    )
    plan_residents_min: int = Field(
        default=100, ge=0, description="Fewest residents a planned grid should hold."
    )
    plan_residents_max: int = Field(
        default=1000, ge=1, description="Most residents a planned grid may hold."
    )
    # Workload of a grid = households x w_h + residents x w_r + incidents in 12 months x w_i.
    # With these, the rule's 300 households and 1,000 people weigh about the same (300 and
    # 300), and an incident a year costs what a household does.
    plan_weight_households: float = Field(
        default=1.0, ge=0, description="Workload weight of a household."
    )
    plan_weight_residents: float = Field(
        default=0.3, ge=0, description="Workload weight of a resident."
    )
    plan_weight_incidents: float = Field(
        default=1.0, ge=0, description="Workload weight of an incident of the last 12 months."
    )
    plan_min_polsby_popper: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description=(
            "A planned grid less compact than this (Polsby-Popper 4 pi area / perimeter^2: 1"
            " for a disc, 0.785 for a square, 0.2 for a 1:14 strip) is flagged (a soft check)."
        ),
    )
    plan_size_outlier_factor: float = Field(
        default=4.0,
        gt=1,
        description=(
            "A planned grid whose area is more than this many times the plan's median, or less"
            " than the median divided by it, is flagged as a size outlier (a soft check)."
        ),
    )

    # A streaming replica that serves tiles and analytics (gisgrid.store.reads); writes and
    # everything else stay on the primary.
    read_replica_url: str | None = Field(
        default=None,
        description=(
            "A streaming replica of the database to read tiles and analytics from"
            " (GISGRID_READ_REPLICA_URL=postgresql://...); a read waits until the replica has"
            " replayed the primary's WAL up to the versions it is keyed by, else reads the"
            " primary."
        ),
    )
    use_replica: bool = Field(
        default=False,
        description=(
            "Read tiles and analytics from the local replica (`gisgrid db replica up`) when"
            " GISGRID_READ_REPLICA_URL is not set."
        ),
    )
    replica_port: int | None = Field(
        default=None, ge=1, le=65535, description="Port of the local replica (db_port + 1)."
    )
    replica_wait_s: float = Field(
        default=0.5,
        ge=0,
        description=(
            "How long a read waits for the replica to catch up with the primary before it"
            " reads the primary instead, in seconds."
        ),
    )

    @model_validator(mode="after")
    def _check_plan_limits(self) -> Settings:
        for what in ("households", "residents"):
            low, high = getattr(self, f"plan_{what}_min"), getattr(self, f"plan_{what}_max")
            if low > high:
                raise ValueError(
                    f"plan_{what}_min={low} is above plan_{what}_max={high}; expected min <= max"
                )
        return self

    @field_validator("secret_key")
    @classmethod
    def _check_secret_key(cls, value: SecretStr) -> SecretStr:
        # HS256 with a short key can be brute-forced offline from any one token
        size = len(value.get_secret_value().encode())
        if size < MIN_SECRET_KEY_BYTES:
            raise ValueError(
                f"secret_key has {size} bytes; at least {MIN_SECRET_KEY_BYTES} are needed"
                ' (make one with: python -c "import secrets; print(secrets.token_urlsafe(48))")'
            )
        return value

    @field_validator("basemap_url")
    @classmethod
    def _check_basemap_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not value.startswith(("http://", "https://", "/")):
            raise ValueError(f"basemap_url={value!r}; expected an http(s) URL or a path")
        missing = [p for p in ("{z}", "{x}") if p not in value]
        if "{y}" not in value and "{-y}" not in value:
            missing.append("{y}")
        if missing:
            raise ValueError(f"basemap_url={value!r} lacks {', '.join(missing)}")
        return value

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        scheme, _, rest = value.partition("://")
        if scheme not in ("http", "https") or not rest or rest.startswith("/"):
            raise ValueError(f"public_url={value!r}; expected http(s)://host[:port][/prefix]")
        return value

    @field_validator("trusted_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(p.strip() for p in value.split(",") if p.strip())
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(p.strip().rstrip("/") for p in value.split(",") if p.strip())
        return value

    @field_validator("open311_api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(p.strip() for p in value.split(",") if p.strip())
        return value

    @field_validator("holidays", mode="before")
    @classmethod
    def _split_holidays(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(p.strip() for p in value.split(",") if p.strip())
        return value

    @property
    def data_path(self) -> Path:
        return self.data_dir.expanduser().absolute()

    @property
    def pgdata_dir(self) -> Path:
        return self.data_path / "pgdata"


def get_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with keyword overrides on top."""
    return Settings(**overrides)  # type: ignore[arg-type]


def core_count() -> int:
    """The cores this process may run on (the default number of ``serve`` workers).

    Examples
    --------
    >>> core_count() >= 1
    True
    """
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_workers(settings: Settings) -> int:
    """How many processes ``serve`` starts when not told: one per core when the signing key is
    set (every worker must sign with the same one), else one, so a first ``make demo`` on a
    machine with no configuration serves rather than refusing.

    Examples
    --------
    >>> default_workers(Settings(_env_file=None))
    1
    >>> default_workers(Settings(secret_key="k" * 32, _env_file=None)) == core_count()
    True
    """
    return core_count() if "secret_key" in settings.model_fields_set else 1


def check_workers(settings: Settings, workers: int) -> int:
    """``workers`` if ``settings`` can be served by that many processes, else InvalidInput.

    Every worker process builds its own settings; an unset secret key is a random key made
    per process, so a token signed by one worker would be refused by the next. More than
    one worker therefore needs GISGRID_SECRET_KEY set.

    Examples
    --------
    >>> check_workers(Settings(secret_key="k" * 32, _env_file=None), 4)
    4
    >>> check_workers(Settings(_env_file=None), 1)
    1
    >>> check_workers(Settings(_env_file=None), 0)
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: workers: workers=0; expected an integer >= 1
    """
    if workers < 1:
        raise InvalidInput(f"workers={workers}; expected an integer >= 1", field="workers")
    if workers > 1 and "secret_key" not in settings.model_fields_set:
        raise InvalidInput(
            f"workers={workers} needs GISGRID_SECRET_KEY set: without it each worker process"
            " makes its own random signing key and refuses the tokens the others issue"
            " (set it, or serve with --workers 1)",
            field="workers",
        )
    return workers
