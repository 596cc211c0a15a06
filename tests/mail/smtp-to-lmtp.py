"""A small SMTP server (aiosmtpd) that hands every accepted message to
Dovecot's LMTP socket, one recipient per LMTP session, so that mail sent
through Dovecot's submission service lands in the recipients' Maildirs.

Usage: smtp-to-lmtp.py PORT LMTP_SOCKET_PATH
Only for tests: it listens on 127.0.0.1 and relays to nothing else.
"""
import asyncio
import signal
import smtplib
import sys

from aiosmtpd.controller import Controller


class ToLmtp:
    def __init__(self, lmtp_path):
        self.lmtp_path = lmtp_path

    def deliver(self, mail_from, rcpt, content):
        with smtplib.LMTP(self.lmtp_path) as lmtp:
            lmtp.sendmail(mail_from, [rcpt], content)

    async def handle_DATA(self, server, session, envelope):
        loop = asyncio.get_running_loop()
        for rcpt in envelope.rcpt_tos:
            try:
                await loop.run_in_executor(
                    None, self.deliver, envelope.mail_from, rcpt, envelope.original_content
                )
            except smtplib.SMTPRecipientsRefused:
                return "550 5.1.1 <%s> unknown here" % rcpt
            except Exception as err:  # report, do not crash the server
                return "451 4.3.0 delivery to <%s> failed: %s" % (rcpt, err)
        return "250 OK delivered"


def main():
    port = int(sys.argv[1])
    lmtp_path = sys.argv[2]
    controller = Controller(ToLmtp(lmtp_path), hostname="127.0.0.1", port=port)
    controller.start()
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.run_until_complete(stop.wait())
    controller.stop()


if __name__ == "__main__":
    main()
