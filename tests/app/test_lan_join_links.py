"""Join links a phone can open: a teacher's page on 127.0.0.1 projects the computer's network
address when the server listens on every interface, and the browser's own address otherwise."""

from __future__ import annotations

import socket

from app import lan


def test_loopback_names_and_addresses_are_recognised():
    assert all(map(lan.is_loopback, ["localhost", "127.0.0.1", "127.8.9.1", "[::1]", "::1"]))
    assert not any(map(lan.is_loopback, ["10.0.0.7", "192.168.1.20", "school.example", ""]))


def test_the_network_address_is_this_machines_and_not_loopback():
    address = lan.lan_address()
    if address is not None:  # a machine with no network at all has none
        assert not lan.is_loopback(address)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((address, 0))  # an address of this machine: it can be bound


def test_a_loopback_link_names_the_network_address_when_listening_everywhere(monkeypatch):
    monkeypatch.setattr(lan, "lan_address", lambda: "192.168.1.20")
    assert lan.reachable_host("127.0.0.1:8000", "0.0.0.0") == "192.168.1.20:8000"
    assert lan.reachable_host("localhost:8000", "::") == "192.168.1.20:8000"
    assert lan.reachable_host("[::1]", "0.0.0.0") == "192.168.1.20"


def test_other_links_are_left_as_the_browser_reached_the_server(monkeypatch):
    monkeypatch.setattr(lan, "lan_address", lambda: "192.168.1.20")
    # listening on loopback only: no phone could reach the network address either
    assert lan.reachable_host("127.0.0.1:8000", "127.0.0.1") == "127.0.0.1:8000"
    assert lan.reachable_host("10.0.0.7:8000", "0.0.0.0") == "10.0.0.7:8000"
    assert lan.reachable_host("lab.school.example", "0.0.0.0") == "lab.school.example"


def test_without_a_network_the_link_is_left_alone(monkeypatch):
    monkeypatch.setattr(lan, "lan_address", lambda: None)
    assert lan.reachable_host("127.0.0.1:8000", "0.0.0.0") == "127.0.0.1:8000"
