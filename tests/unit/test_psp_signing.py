"""Webhook signatures, pure: a right signature passes; forged, stale and malformed ones raise, each clearly."""

from __future__ import annotations

import pytest

from reference_impl.psp.signing import (
    ForgedSignature,
    MalformedSignature,
    SignatureError,
    StaleSignature,
    sign,
    verify,
)

SECRET = "whsec_test"
BODY = b'{"id":"evt_1","type":"payment.captured","data":{"id":"ch_1","amount":1000}}'
T = 1_700_000_000


def test_a_signature_verifies_against_its_body_and_time():
    header = sign(SECRET, T, BODY)
    assert header.startswith(f"t={T},v1=") and len(header.split("v1=")[1]) == 64
    assert verify(SECRET, header, BODY, now=T) is None
    assert verify(SECRET, header, BODY, now=T + 299) is None


@pytest.mark.parametrize("secret, body", [
    ("whsec_other", BODY),                                 # signed by someone else
    (SECRET, BODY.replace(b"1000", b"9999")),              # body tampered after signing
    (SECRET, BODY + b" "),                                 # not byte-identical: re-serialized
])
def test_a_forged_signature_is_rejected(secret, body):
    header = sign(secret, T, body)
    with pytest.raises(ForgedSignature):
        verify(SECRET, header, BODY, now=T)


def test_a_timestamp_moved_forward_breaks_the_mac():
    mac = sign(SECRET, T, BODY).split("v1=")[1]
    with pytest.raises(ForgedSignature):          # replaying an old MAC with a fresh t does not work
        verify(SECRET, f"t={T + 1000},v1={mac}", BODY, now=T + 1000)


@pytest.mark.parametrize("now", [T + 301, T - 301, T + 86400])
def test_a_stale_or_future_signature_is_rejected(now):
    with pytest.raises(StaleSignature):
        verify(SECRET, sign(SECRET, T, BODY), BODY, now=now)


def test_tolerance_is_a_parameter():
    header = sign(SECRET, T, BODY)
    verify(SECRET, header, BODY, now=T + 1000, tolerance_s=1000)
    with pytest.raises(StaleSignature):
        verify(SECRET, header, BODY, now=T + 10, tolerance_s=5)


@pytest.mark.parametrize("header", [
    None, "", "garbage", f"t={T}", "v1=abc", f"t=soon,v1={'0' * 64}", f"t={T};v1=abc",
    f"t=-{T},v1={'0' * 64}", f"t=１２,v1={'0' * 64}",
])
def test_a_malformed_header_is_rejected(header):
    with pytest.raises(MalformedSignature):
        verify(SECRET, header, BODY, now=T)


def test_any_matching_v1_passes_as_during_a_secret_rotation():
    good = sign(SECRET, T, BODY).split("v1=")[1]
    verify(SECRET, f"t={T},v1={'0' * 64},v1={good}", BODY, now=T)


def test_every_failure_is_a_value_error():
    for exc in (ForgedSignature, StaleSignature, MalformedSignature):
        assert issubclass(exc, SignatureError) and issubclass(exc, ValueError)
    with pytest.raises(ValueError):
        sign("", T, BODY)
