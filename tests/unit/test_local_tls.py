"""The stack's own CA and loopback certificate: made once, the key owner-only, and a client that
trusts only that CA verifies the server (name and address)."""

from __future__ import annotations

import ssl
import stat

from cryptography import x509

from devstack.core import local_tls


def test_made_once_with_an_owner_only_key_and_loopback_names(tmp_path):
    first = local_tls.ensure(tmp_path / "tls")
    assert stat.S_IMODE(first.key.stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(first.cert.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert {str(a) for a in names.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    before = first.cert.read_bytes()
    assert local_tls.ensure(tmp_path / "tls") == first and first.cert.read_bytes() == before


def test_the_ca_verifies_the_server_certificate(tmp_path):
    files = local_tls.ensure(tmp_path / "tls")
    client = ssl.create_default_context(cafile=str(files.ca))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(files.cert, files.key)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    back_in, back_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    c = client.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
    s = server.wrap_bio(back_in, back_out, server_side=True)
    for _ in range(10):  # the handshake, shuttled by hand between the two ends
        for end in (c, s):
            try:
                end.do_handshake()
            except ssl.SSLWantReadError:
                pass
        back_in.write(outgoing.read())
        incoming.write(back_out.read())
    c.do_handshake()  # raises if the certificate did not verify for 127.0.0.1
    assert c.getpeercert()["subject"][0][0][1] == "localhost"
