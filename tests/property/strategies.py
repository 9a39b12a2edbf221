"""Hypothesis strategies for DC-09 frames: headers, SIA DCS / Contact ID data, keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from alarmrx.protocols import CRCStyle, FrameHeader

NOW = datetime(2026, 3, 4, 12, 0, 0, tzinfo=UTC)

hex_field = st.text("0123456789ABCDEF", min_size=1, max_size=6)
accounts = st.text("0123456789ABCDEF", min_size=3, max_size=16)
sequences = st.integers(1, 9999).map(lambda n: f"{n:04d}")
keys = st.sampled_from([16, 24, 32]).flatmap(lambda n: st.binary(min_size=n, max_size=n))
crc_styles = st.sampled_from(list(CRCStyle))
skews = st.integers(-40, 20).map(lambda s: NOW + timedelta(seconds=s))


@st.composite
def sia_data(draw: st.DrawFn, account: str) -> tuple[str, str, int]:
    """``#acct|Nri<area>/<code><zone>`` with a code from the table; returns data, code, zone."""
    code = draw(st.sampled_from(["BA", "FA", "PA", "TA", "YT", "AT", "WA", "BB"]))
    area = draw(st.integers(1, 99))
    zone = draw(st.integers(1, 999))
    return f"#{account}|Nri{area}/{code}{zone:03d}", code, zone


@st.composite
def cid_data(draw: st.DrawFn, account: str) -> tuple[str, str, int]:
    """``#acct|QXYZ GG CCC`` for zone-addressed codes; returns data, code, zone."""
    code = draw(st.sampled_from(["110", "130", "131", "301", "602", "137"]))
    qualifier = draw(st.sampled_from("136"))
    zone = draw(st.integers(1, 999))
    return f"#{account}|{qualifier}{code} {draw(st.integers(0, 99)):02d} {zone:03d}", code, zone


@st.composite
def headers(draw: st.DrawFn, token: str, *, encrypted: bool) -> FrameHeader:
    """A header with optional receiver and line, always an account."""
    return FrameHeader(
        token=token,
        encrypted=encrypted,
        sequence=draw(sequences),
        receiver=draw(st.none() | hex_field),
        line=draw(st.none() | hex_field),
        account=draw(accounts),
        crc_style=draw(crc_styles),
    )
