#!/usr/bin/env python3
"""A phone written from docs/sim-protocol.md alone, to check the document and the port against
an implementation that shares no code with them.

usage: phone.py HOST:PORT
Answers every AUDIO frame with what it heard (a loopback handset), goes off-hook at sample
(stamp of frame 20) + 40 and on-hook at (stamp of frame 120) + 7, prints both stamps and the
number of frames answered, then closes with ERROR code 5 (bye).
"""
import socket
import struct
import sys


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(kind, payload):
        s.sendall(struct.pack("<BH", kind, len(payload)) + payload)

    def exact(n):
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                raise EOFError("port closed the connection")
            buf += chunk
        return buf

    def recv():
        kind, n = struct.unpack("<BH", exact(3))
        return kind, exact(n)

    # HELLO: magic, version 1, role 2 (phone), kind 0 (FXS), port 0, 80 samples per frame.
    send(0x01, b"GWSP" + struct.pack("<BBBBH", 1, 2, 0, 0, 80))
    kind, p = recv()
    assert kind == 0x01 and p[:4] == b"GWSP", (kind, p)
    version, role, port_kind, _port, samples = struct.unpack("<BBBBH", p[4:])
    assert (version, role, port_kind, samples) == (1, 1, 0, 80), p

    frames = 0
    off_at = on_at = None
    while frames < 300:
        kind, p = recv()
        if kind != 0x02:
            continue  # FEED, RING: not needed here
        assert len(p) == 168, len(p)
        (at,) = struct.unpack("<Q", p[:8])
        frames += 1
        if frames == 20:
            off_at = at + 40
            send(0x20, struct.pack("<QB", off_at, 1))
        if frames == 120:
            on_at = at + 7
            send(0x20, struct.pack("<QB", on_at, 0))
        # Transitions first, then the answer to the frame (the ordering rule).
        send(0x02, struct.pack("<Q", at) + p[8:])
    print(off_at, on_at, frames, flush=True)
    send(0x03, bytes([5]) + b"bye")
    s.close()


if __name__ == "__main__":
    main()
