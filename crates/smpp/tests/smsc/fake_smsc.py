#!/usr/bin/env python3
"""A small SMSC for end-to-end tests of hotline-smpp, on the PyPI package smpp34.

Install:  pip install 'smpp34==1.5.0'
Run:      python3 fake_smsc.py --port 2775 [--mo TEXT ...] [--mo-ucs2 TEXT] [--throttle-first]

What it does, per bound ESME:
  * accepts any bind (smpp34's Python server does not check credentials);
  * answers every submit_sm with a message id "msg-N";
  * when the submit asked for a receipt (registered_delivery & 1), pushes a
    delivery receipt deliver_sm (esm_class 0x04, the usual "id:... stat:DELIVRD"
    text plus receipted_message_id / message_state TLVs);
  * right after the bind, sends each --mo text as a mobile-originated deliver_sm
    (GSM-7 unpacked, data_coding 0) and --mo-ucs2 texts as UCS-2 (data_coding 8);
    a UCS-2 text over 70 UTF-16 units is sent as concatenated segments (UDH);
  * with --throttle-first, refuses the first submit_sm with ESME_RTHROTTLED.

Every PDU it sees is logged on stdout, one line each, for the test to read.
It runs until killed, or for --seconds seconds.
"""

import argparse
import asyncio
import time

import smpp34

UCS2_SEGMENT = 67


def ucs2_segments(text: str, ref: int) -> list[bytes]:
    units = text.encode("utf-16-be")
    if len(units) <= 140:
        return [units]
    chunks = []
    cur = b""
    for ch in text:
        enc = ch.encode("utf-16-be")
        if len(cur) + len(enc) > UCS2_SEGMENT * 2:
            chunks.append(cur)
            cur = b""
        cur += enc
    if cur:
        chunks.append(cur)
    n = len(chunks)
    return [bytes([5, 0, 3, ref & 0xFF, n, i + 1]) + c for i, c in enumerate(chunks)]


async def push_mo(esme, args):
    try:
        await _push_mo(esme, args)
    except Exception as e:  # a test reads this line rather than a silent task death
        print(f"MO failed: {e!r}", flush=True)


async def _push_mo(esme, args):
    await asyncio.sleep(0.2)
    for text in args.mo:
        r = await esme.deliver_sm(
            args.our_number,
            text.encode("ascii"),
            source_addr=args.customer,
            source_addr_ton=1,
            source_addr_npi=1,
            data_coding=0,
        )
        print(f"MO sent {text!r} status={r.command_status}", flush=True)
    for i, text in enumerate(args.mo_ucs2):
        parts = ucs2_segments(text, 100 + i)
        for p in parts:
            r = await esme.deliver_sm(
                args.our_number,
                p,
                source_addr=args.customer,
                source_addr_ton=1,
                source_addr_npi=1,
                data_coding=8,
                esm_class=0x40 if len(parts) > 1 else 0,
            )
            print(f"MO-UCS2 part sent status={r.command_status}", flush=True)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=2775)
    ap.add_argument("--mo", action="append", default=[])
    ap.add_argument("--mo-ucs2", action="append", default=[])
    ap.add_argument("--customer", default="447700900123")
    ap.add_argument("--our-number", default="8800")
    ap.add_argument("--throttle-first", action="store_true")
    ap.add_argument("--seconds", type=float, default=0)
    args = ap.parse_args()

    server = smpp34.Server(args.host, args.port, system_id="FAKESMSC")
    await server.start()
    print(f"LISTENING {args.host}:{args.port}", flush=True)
    sessions = {}
    counter = 0
    throttled = False
    deadline = time.monotonic() + args.seconds if args.seconds else None

    while True:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            ev = await asyncio.wait_for(server.next(), timeout)
        except asyncio.TimeoutError:
            break
        if isinstance(ev, smpp34.Esme):
            sessions[ev.session_id] = ev
            print(f"BOUND system_id={ev.system_id} can_receive={ev.can_receive}", flush=True)
            if ev.can_receive:
                asyncio.create_task(push_mo(ev, args))
        elif isinstance(ev, smpp34.SubmitSmEvent):
            if args.throttle_first and not throttled:
                throttled = True
                ev.reject(smpp34.ESME_RTHROTTLED)
                print("SUBMIT throttled", flush=True)
                continue
            counter += 1
            mid = f"msg-{counter}"
            print(
                f"SUBMIT id={mid} to={ev.destination_addr} from={ev.source_addr} "
                f"dcs={ev.data_coding} esm={ev.esm_class:#x} "
                f"sm={ev.short_message.hex()}",
                flush=True,
            )
            ev.accept(mid)
            esme = sessions.get(ev.session_id)
            if esme is not None and ev.registered_delivery & 1 and esme.can_receive:
                stamp = time.strftime("%y%m%d%H%M", time.gmtime())
                text = (
                    f"id:{mid} sub:001 dlvrd:001 submit date:{stamp} done date:{stamp} "
                    f"stat:DELIVRD err:000 text:"
                )
                asyncio.ensure_future(
                    esme.deliver_sm(
                        ev.source_addr,
                        text.encode("ascii"),
                        source_addr=ev.destination_addr,
                        esm_class=0x04,
                        tlvs=[
                            smpp34.Tlv(smpp34.TLV_RECEIPTED_MESSAGE_ID, mid.encode() + b"\0"),
                            smpp34.Tlv(smpp34.TLV_MESSAGE_STATE, bytes([2])),
                        ],
                    )
                )
                print(f"RECEIPT queued for {mid}", flush=True)
        elif isinstance(ev, smpp34.Unbound):
            sessions.pop(ev.session_id, None)
            print("UNBOUND", flush=True)
    await server.stop()


if __name__ == "__main__":
    asyncio.run(main())
