#!/usr/bin/env python3
"""Writes the seed corpus (corpus/<target>/seed-*) and the dictionaries (dict/<target>.dict). Re-run after editing."""
import os, struct

here = os.path.dirname(os.path.abspath(__file__))

def write(target, name, data):
    d = os.path.join(here, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode("latin-1"))

CRLF = "\r\n"
def head(lines):
    return CRLF.join(lines) + CRLF + CRLF

# --- head: upgrade requests as real clients send them ---
write("head", "chromium", head([
    "GET /echo HTTP/1.1", "Host: localhost:5000", "Connection: Upgrade", "Pragma: no-cache", "Cache-Control: no-cache",
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
    "Upgrade: websocket", "Origin: http://localhost:5000", "Sec-WebSocket-Version: 13",
    "Accept-Encoding: gzip, deflate, br, zstd", "Accept-Language: en-US,en;q=0.9",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"]))
write("head", "firefox", head([
    "GET /echo?room=1 HTTP/1.1", "Host: example.com", "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Accept: */*", "Sec-WebSocket-Version: 13", "Origin: https://example.com",
    "Sec-WebSocket-Extensions: permessage-deflate", "Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==",
    "Connection: keep-alive, Upgrade", "Sec-Fetch-Dest: empty", "Sec-Fetch-Mode: websocket", "Pragma: no-cache",
    "Cache-Control: no-cache", "Upgrade: websocket"]))
write("head", "clientwebsocket", head([
    "GET /echo HTTP/1.1", "Host: 127.0.0.1:5000", "Connection: Upgrade", "Upgrade: websocket",
    "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==", "Sec-WebSocket-Protocol: chat, superchat",
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=15; server_max_window_bits=15"]))
write("head", "node-ws", head([
    "GET /echo HTTP/1.1", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: 5MVsRo5Ut5xfSuBA6ASc8w==", "Connection: Upgrade",
    "Upgrade: websocket", "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits", "Host: localhost:8080"]))
write("head", "strict-path", head([
    "GET /a/b HTTP/1.1", "Host: h", "Upgrade: WebSocket", "Connection: upgrade", "Sec-WebSocket-Version: 13",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Origin: https://evil.example", "Cookie: a=b",
    "Sec-WebSocket-Protocol: mqtt"]))
write("head", "bad-key", head(["GET /echo HTTP/1.1", "Host: h", "Upgrade: websocket", "Connection: Upgrade",
    "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ"]))
write("head", "version8", head(["GET /echo HTTP/1.1", "Host: h", "Upgrade: websocket", "Connection: Upgrade",
    "Sec-WebSocket-Version: 8", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="]))
write("head", "plain-get", head(["GET /echo HTTP/1.1", "Host: h", "Accept: text/html"]))
write("head", "unmapped", head(["GET /other HTTP/1.1", "Host: h", "Upgrade: websocket"]))
write("head", "post", head(["POST /echo HTTP/1.1", "Host: h", "Content-Length: 0"]))
write("head", "h2c-preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
write("head", "tls-hello", bytes([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03]) + bytes(range(32)))
write("head", "http10", head(["GET /echo HTTP/1.0", "Host: h"]))
write("head", "obs-fold", head(["GET /echo HTTP/1.1", "Host: h", "Upgrade: websocket", " , websocket", "Connection: Upgrade",
    "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="]))
write("head", "bare-lf", "GET /echo HTTP/1.1\r\nHost: h\nUpgrade: websocket\r\n\r\n")
write("head", "proto-spaces", head(["GET /echo HTTP/1.1", "Host: h", "Upgrade: websocket", "Connection: Upgrade",
    "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol: chat" + " " * 200 + ","]))

# --- frame: client frames (masked) of each length class, controls, bad bits ---
key = b"\x37\xfa\x21\x3d"
def frame(b0, length, masked=True, key=key, payload=True):
    if length < 126: hdr = bytes([b0, (0x80 if masked else 0) | length])
    elif length < 65536: hdr = bytes([b0, (0x80 if masked else 0) | 126]) + struct.pack(">H", length)
    else: hdr = bytes([b0, (0x80 if masked else 0) | 127]) + struct.pack(">Q", length)
    return hdr + (key if masked else b"") + (bytes(min(length, 64)) if payload else b"")
write("frame", "text-hello", bytes([0x81, 0x85]) + key + bytes(b ^ key[i % 4] for i, b in enumerate(b"Hello")))
write("frame", "empty-text", frame(0x81, 0))
write("frame", "len125", frame(0x82, 125))
write("frame", "len126", frame(0x82, 126))
write("frame", "len65535", frame(0x82, 65535))
write("frame", "len65536", frame(0x82, 65536))
write("frame", "len64-big", frame(0x82, 1 << 40))
write("frame", "len64-msb", bytes([0x82, 0xff]) + b"\x80" + bytes(7) + key)
write("frame", "len64-max", bytes([0x82, 0xff]) + b"\x7f" + b"\xff" * 7 + key)
write("frame", "noncanonical-16", bytes([0x82, 0xfe, 0x00, 0x05]) + key)
write("frame", "ping", frame(0x89, 4))
write("frame", "pong", frame(0x8a, 0))
write("frame", "close-1000", bytes([0x88, 0x82]) + key + bytes([0x03 ^ key[0], 0xe8 ^ key[1]]))
write("frame", "ping-126", frame(0x89, 126))
write("frame", "ping-125", frame(0x89, 125))
write("frame", "close-125", frame(0x88, 125))
write("frame", "pong-126-16bit", bytes([0x8a, 0xfe, 0x00, 0x7d]) + key)
write("frame", "ping-nofin", frame(0x09, 1))
write("frame", "continuation", frame(0x80, 3))
write("frame", "fragment-start", frame(0x01, 3))
write("frame", "rsv1-text", frame(0xc1, 5))
write("frame", "rsv1-continuation", frame(0xc0, 5))
write("frame", "rsv2", frame(0xa1, 5))
write("frame", "reserved-opcode", frame(0x83, 1))
write("frame", "unmasked", frame(0x81, 5, masked=False))
write("frame", "truncated", bytes([0x82, 0xfe, 0x01]))

# --- utf8 ---
samples = {
    "ascii": b"Hello, WebSocket!",
    "mixed": "κόσμε € 日本語 🎉 é".encode("utf-8"),
    "emoji": "🙂🙃💩".encode("utf-8"),
    "bmp-edge": "\u07ff\u0800\uffff\ud7ff\ue000".encode("utf-8"),
    "max": "\U0010ffff\U00010000".encode("utf-8"),
    "surrogate": b"\xed\xa0\x80",
    "overlong2": b"\xc0\xaf",
    "overlong3": b"\xe0\x80\xaf",
    "overlong4": b"\xf0\x80\x80\xaf",
    "above-max": b"\xf4\x90\x80\x80",
    "f5": b"\xf5\x80\x80\x80",
    "cut-4": "a🎉".encode("utf-8")[:-1],
    "cut-3": "a€".encode("utf-8")[:-2],
    "lone-continuation": b"abc\x80def",
    "autobahn-6.4.1": b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80\x65\x64\x69\x74\x65\x64",
    "long-ascii-tail-cut": b"x" * 100 + "𝄞".encode("utf-8")[:3],
}
for name, data in samples.items():
    write("utf8", name, data)

# --- extensions: Sec-WebSocket-Extensions values as sent by browsers and libraries ---
offers = {
    "chromium": "permessage-deflate; client_max_window_bits",
    "firefox": "permessage-deflate",
    "safari": "permessage-deflate",
    "clientwebsocket": "permessage-deflate; client_max_window_bits=15; server_max_window_bits=15",
    "clientwebsocket-nctx": "permessage-deflate; client_max_window_bits=10; client_no_context_takeover; server_no_context_takeover",
    "node-ws": "permessage-deflate; client_max_window_bits",
    "two-offers": "permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=10",
    "quoted": 'permessage-deflate; client_max_window_bits="12"',
    "other-ext": "x-webkit-deflate-frame, permessage-deflate; server_no_context_takeover",
    "bad-value": "permessage-deflate; client_max_window_bits=abc",
    "proto": "permessage-deflate; __proto__=1; constructor",
    "duplicate": "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
    "leading-zero": "permessage-deflate; server_max_window_bits=09",
    "client8": "permessage-deflate; client_max_window_bits=8",
    "server9": "permessage-deflate; server_max_window_bits=9; client_max_window_bits=9",
    "uppercase": "PERMESSAGE-DEFLATE; CLIENT_MAX_WINDOW_BITS; Server_Max_Window_Bits=11",
}
for name, text in offers.items():
    write("extensions", name, text)

# --- dictionaries (AFL -x) ---
os.makedirs(os.path.join(here, "dict"), exist_ok=True)
def dict_file(target, tokens):
    with open(os.path.join(here, "dict", target + ".dict"), "w") as f:
        for i, t in enumerate(tokens):
            esc = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "\\x%02x" % ord(c) for c in t)
            f.write('t%d="%s"\n' % (i, esc))
dict_file("head", ["GET ", " HTTP/1.1", "\r\n", "\r\n\r\n", "/echo", "/a/b", "?", "Host:", "Upgrade:", "websocket",
    "Connection:", "Upgrade", "keep-alive", "Sec-WebSocket-Key:", "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version:", "13",
    "Origin:", "https://example.com", "Sec-WebSocket-Protocol:", "chat", "superchat", "mqtt", "Sec-WebSocket-Extensions:",
    "permessage-deflate", "client_max_window_bits", "server_max_window_bits=", "server_no_context_takeover", "Cookie:",
    ", ", "; ", ": ", " ", "\t"])
dict_file("extensions", ["permessage-deflate", "server_no_context_takeover", "client_no_context_takeover",
    "server_max_window_bits", "client_max_window_bits", "=", ";", ",", "\"", "8", "9", "10", "15", " ", "\t"])
dict_file("utf8", ["\xc2", "\xdf", "\xe0\xa0", "\xed\x9f", "\xed\xa0", "\xef\xbf\xbf", "\xf0\x90", "\xf4\x8f", "\xf4\x90", "\x80", "\xbf"])
dict_file("frame", ["\x81\x80", "\x82\xfe", "\x82\xff", "\x01\x80", "\x80\x80", "\x88\x80", "\x89\xfd", "\xc1\x80",
    "\x00\x00\x00\x00\x00\x00\x00\x7d", "\x00\x7e", "\xff\xff", "\x7f\xff\xff\xff\xff\xff\xff\xff", "\x80\x00\x00\x00\x00\x00\x00\x00"])
print("seeds written")
