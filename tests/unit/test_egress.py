"""Checking and showing per-account proxy URLs."""

from __future__ import annotations

import pytest

from poolgate.upstream.egress import check_proxy_url, show_proxy


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("socks5://127.0.0.1:1080", "http:// or https://"),
        ("127.0.0.1:3128", "http:// or https://"),
        ("http://127.0.0.1:notaport", "invalid port"),
        ("http://:3128", "no host"),
        ("http://proxy.lan:3128/path", "nothing after it"),
    ],
)
def test_urls_that_cannot_work_are_refused_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_proxy_url(url)


def test_good_urls_are_kept_and_shown_without_the_password() -> None:
    assert check_proxy_url("  ") == ""
    url = check_proxy_url(" https://alice:pa%3Ass@proxy.lan:8443 ")
    assert url == "https://alice:pa%3Ass@proxy.lan:8443"
    assert show_proxy(url) == "https://alice:***@proxy.lan:8443"
    assert show_proxy("http://bob@10.0.0.2:3128") == "http://bob@10.0.0.2:3128"
    assert show_proxy("http://proxy.lan") == "http://proxy.lan"
    assert show_proxy("") == ""
