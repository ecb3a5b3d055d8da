"""A real SMTP server for the mail sink tests, on 127.0.0.1.

It prints "PORT n" on its first line of standard output. Then it stores each
message it accepts in DIRECTORY twice. NNNN.eml is the message as received,
after SMTP dot-unstuffing. NNNN.json has the envelope, the login, whether TLS
was in use, and the decoded subject and body.

    smtp_server.py DIRECTORY [--user NAME --password TEXT]
                   [--cert FILE --key FILE [--require-starttls]]

With --user, AUTH PLAIN and LOGIN are offered and mail without a login is
rejected. With --cert and --key, STARTTLS is offered, and a login then needs
TLS. Runs under Debian's /usr/bin/python3, which has python3-aiosmtpd.
"""

import argparse
import asyncio
import email
import email.header
import email.policy
import json
import logging
import os
import ssl
import sys
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Store:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        stem = os.path.join(self.directory, "%04d" % self.count)
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.compat32)
        subject = message.get("Subject", "")
        decoded_subject = str(email.header.make_header(email.header.decode_header(subject)))
        payload = message.get_payload(decode=True) or b""
        auth = session.auth_data if session.authenticated else None
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "auth": auth,
            "tls": session.ssl is not None,
            "subject": decoded_subject,
            "body": payload.decode("utf-8", errors="replace"),
        }
        # Written under temporary names and renamed, so a reader never sees half a file.
        with open(stem + ".eml.tmp", "wb") as f:
            f.write(raw)
        os.rename(stem + ".eml.tmp", stem + ".eml")
        with open(stem + ".json.tmp", "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.rename(stem + ".json.tmp", stem + ".json")
        return "250 OK"


def make_authenticator(user, password):
    def authenticate(server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        accepted = auth_data.login.decode() == user and auth_data.password.decode() == password
        if not accepted:
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True,
                          auth_data={"mechanism": mechanism, "user": auth_data.login.decode()})
    return authenticate


async def serve(arguments):
    options = {"hostname": "localhost"}
    if arguments.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(arguments.cert, arguments.key)
        options["tls_context"] = context
        options["require_starttls"] = arguments.require_starttls
    if arguments.user:
        options["authenticator"] = make_authenticator(arguments.user, arguments.password)
        options["auth_required"] = True
        options["auth_require_tls"] = bool(arguments.cert)
    store = Store(arguments.directory)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(store, loop=loop, **options), "127.0.0.1", 0)
    print("PORT %d" % server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def main():
    # aiosmtpd warns about AUTH without TLS, which the tests use on loopback,
    # and about its own deprecated attributes; stderr is for real errors.
    warnings.simplefilter("ignore")
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("directory")
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--require-starttls", action="store_true")
    arguments = parser.parse_args()
    if bool(arguments.user) != bool(arguments.password):
        parser.error("--user and --password go together")
    if bool(arguments.cert) != bool(arguments.key):
        parser.error("--cert and --key go together")
    asyncio.run(serve(arguments))


if __name__ == "__main__":
    sys.exit(main())
