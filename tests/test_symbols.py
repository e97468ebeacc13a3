"""Readable names for analysis (collapse keeps stackcollapse-perf.pl's names)."""

from __future__ import annotations

import pytest

from diagnose.symbols import display_name, repair_rust, strip_arguments


@pytest.mark.parametrize("raw,clean", [
    ("webrtc::RtpVideoSender::SendVideo(webrtc::EncodedImage const&)", "webrtc::RtpVideoSender::SendVideo"),
    ("std::function<int (int, int)>::operator()(int, int) const", "std::function<int (int, int)>::operator()"),
    ("std::_Function_handler<int (int, int), main::{lambda(int, int)#1}>::_M_invoke(std::_Any_data const&)",
     "std::_Function_handler<int (int, int), main::{lambda(int, int)#1}>::_M_invoke"),
    ("std::ostream::operator<<(int)", "std::ostream::operator<<"),
    ("(anonymous namespace)::Foo::run(int)", "(anonymous namespace)::Foo::run"),
    ("net/http.(*Client).Do", "net/http.(*Client).Do"),
    ("operator new(unsigned long)", "operator new"),
    ("unix_stream_recvmsg", "unix_stream_recvmsg"),
])
def test_argument_lists_are_removed_without_breaking_templates(raw: str, clean: str) -> None:
    assert strip_arguments(raw) == clean


def test_rust_legacy_names_are_repaired() -> None:
    assert repair_rust("_$LT$alloc..boxed..Box$LT$T$GT$$u20$as$u20$gc..trace..Trace$GT$::trace::h1234567890abcdef") \
        == "<alloc::boxed::Box<T> as gc::trace::Trace>::trace"
    assert repair_rust("plain_c_function") == "plain_c_function"


def test_unknown_symbols_are_named_by_their_module() -> None:
    assert display_name("[unknown]", "/usr/lib/x86_64-linux-gnu/libvpx.so.7.1.0", False) == ["[libvpx.so.7.1.0]"]
    assert display_name("[unknown]", "", False) == ["[unknown]"]
    assert display_name("(deleted)", "/x", False) == []
