#!/usr/bin/env python3
"""Write a UEFI firmware event log in the TCG crypto-agile format, for tests.

    make_eventlog.py OUT [options]

The log: the Spec ID header (sha1 + sha256, and --unknown-alg), an optional
StartupLocality, EV_S_CRTM_VERSION and a firmware blob in PCR 0, the
SecureBoot/PK/KEK/db/dbx variables in PCR 7, an EV_EFI_ACTION in PCR 4,
EV_SEPARATOR in PCRs 0-7, each --app as an EV_EFI_BOOT_SERVICES_APPLICATION
in PCR 4, and an EV_NO_ACTION (not extended).

Prints the sha256 PCR values the log replays to, one INDEX:HEX a line (the
PCRs the log extends), computed here with hashlib (independently of
keyward).  --extends FILE writes the sha256 extensions in log order, one
"PCR HEX" a line, for tpm2_pcrextend.
"""
import argparse
import hashlib
import struct
import sys

EV_NO_ACTION = 0x3
EV_SEPARATOR = 0x4
EV_S_CRTM_VERSION = 0x8
EV_EFI_VARIABLE_DRIVER_CONFIG = 0x80000001
EV_EFI_BOOT_SERVICES_APPLICATION = 0x80000003
EV_EFI_ACTION = 0x80000007
EV_EFI_PLATFORM_FIRMWARE_BLOB = 0x80000008

SHA1, SHA256 = 0x0004, 0x000B
# EFI_GLOBAL_VARIABLE 8be4df61-93ca-11d2-aa0d-00e098032b8c, EFI_GUID layout
EFI_GLOBAL = struct.pack("<IHH", 0x8BE4DF61, 0x93CA, 0x11D2) + \
    bytes([0xAA, 0x0D, 0x00, 0xE0, 0x98, 0x03, 0x2B, 0x8C])
# EFI_IMAGE_SECURITY_DATABASE_GUID d719b2cb-3d3a-4596-a3bc-dad00e67656f
EFI_IMAGE_DB = struct.pack("<IHH", 0xD719B2CB, 0x3D3A, 0x4596) + \
    bytes([0xA3, 0xBC, 0xDA, 0xD0, 0x0E, 0x67, 0x65, 0x6F])


class Log:
    def __init__(self, algs, sha1_in_events=True):
        self.algs = algs                  # [(id, size)]
        self.sha1_in_events = sha1_in_events
        self.out = bytearray()
        self.pcr = {}
        self.extends = []
        self.init0 = bytes(32)

    def header(self):
        body = b"Spec ID Event03\0" + struct.pack("<IBBBB", 0, 0, 2, 0, 2)
        body += struct.pack("<I", len(self.algs))
        for aid, size in self.algs:
            body += struct.pack("<HH", aid, size)
        body += bytes([0])
        self.out += struct.pack("<II", 0, EV_NO_ACTION) + bytes(20)
        self.out += struct.pack("<I", len(body)) + body

    def digests(self, content, zero=False):
        ds = []
        for aid, size in self.algs:
            if aid == SHA1 and not self.sha1_in_events:
                continue
            if zero:
                d = bytes(size)
            elif aid == SHA1:
                d = hashlib.sha1(content).digest()
            elif aid == SHA256:
                d = hashlib.sha256(content).digest()
            else:   # an algorithm keyward does not know: any bytes
                d = bytes([0xA5]) * size
            ds.append((aid, d))
        return ds

    def event(self, pcr, etype, data, content=None, sha256=None):
        """content: what is hashed (default: data)."""
        if content is None:
            content = data
        ds = self.digests(content, zero=etype == EV_NO_ACTION)
        if sha256 is not None:
            ds = [(a, sha256 if a == SHA256 else d) for a, d in ds]
        self.out += struct.pack("<III", pcr, etype, len(ds))
        for aid, d in ds:
            self.out += struct.pack("<H", aid) + d
        self.out += struct.pack("<I", len(data)) + data
        if etype == EV_NO_ACTION:
            return
        d256 = dict(ds)[SHA256]
        start = self.init0 if pcr == 0 else \
            (b"\xff" * 32 if 17 <= pcr <= 22 else bytes(32))
        self.pcr[pcr] = hashlib.sha256(self.pcr.get(pcr, start) + d256).digest()
        self.extends.append((pcr, d256))


def variable(guid, name, value):
    n = name.encode("utf-16-le")
    return guid + struct.pack("<QQ", len(name), len(value)) + n + value


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--secure-boot", choices=["0", "1", "none"], default="1",
                    help="the SecureBoot variable's value (none: no event)")
    ap.add_argument("--forge-secure-boot", action="store_true",
                    help="the SecureBoot event's data says 1 but its "
                    "digests are those of 0 (an edited log)")
    ap.add_argument("--locality", type=int,
                    help="a StartupLocality event with this locality")
    ap.add_argument("--app", action="append",
                    help="a boot application's content (repeatable; "
                    "default: one named 'shimx64.efi')")
    ap.add_argument("--unknown-alg", metavar="ID:SIZE",
                    help="a third bank of an algorithm keyward does not "
                    "know, e.g. 0x7777:48")
    ap.add_argument("--extends", metavar="FILE")
    a = ap.parse_args()

    algs = [(SHA1, 20), (SHA256, 32)]
    if a.unknown_alg:
        aid, size = a.unknown_alg.split(":")
        algs.insert(1, (int(aid, 0), int(size, 0)))
    log = Log(algs)
    log.header()
    if a.locality is not None:
        log.init0 = bytes(31) + bytes([a.locality])
        log.event(0, EV_NO_ACTION, b"StartupLocality\0" + bytes([a.locality]))
    log.event(0, EV_S_CRTM_VERSION, "1.0\0".encode("utf-16-le"))
    log.event(0, EV_EFI_PLATFORM_FIRMWARE_BLOB,
              struct.pack("<QQ", 0xFFD00000, 0x300000),
              content=b"the firmware volume of a test machine")
    if a.secure_boot != "none":
        sb = bytes([int(a.secure_boot)])
        if a.forge_secure_boot:
            data = variable(EFI_GLOBAL, "SecureBoot", b"\x01")
            log.event(7, EV_EFI_VARIABLE_DRIVER_CONFIG, data,
                      content=variable(EFI_GLOBAL, "SecureBoot", b"\x00"))
        else:
            log.event(7, EV_EFI_VARIABLE_DRIVER_CONFIG,
                      variable(EFI_GLOBAL, "SecureBoot", sb))
    for name, guid in (("PK", EFI_GLOBAL), ("KEK", EFI_GLOBAL),
                       ("db", EFI_IMAGE_DB), ("dbx", EFI_IMAGE_DB)):
        log.event(7, EV_EFI_VARIABLE_DRIVER_CONFIG,
                  variable(guid, name, ("certificates of " + name).encode()))
    # a vendor's EV_NO_ACTION: in the log, never extended
    log.event(0, EV_NO_ACTION, b"NvIndexInstance\0" + bytes(8))
    log.event(4, EV_EFI_ACTION, b"Calling EFI Application from Boot Option")
    for pcr in range(8):
        log.event(pcr, EV_SEPARATOR, bytes(4))
    for i, app in enumerate(a.app or ["shimx64.efi"]):
        # UEFI_IMAGE_LOAD_EVENT: location, length, link-time address,
        # device path length, device path (an end node here)
        dp = bytes([0x7F, 0xFF, 0x04, 0x00])
        data = struct.pack("<QQQQ", 0x7E000000 + i * 0x100000, 0x100000, 0,
                           len(dp)) + dp
        log.event(4, EV_EFI_BOOT_SERVICES_APPLICATION, data,
                  content=app.encode())
    with open(a.out, "wb") as f:
        f.write(log.out)
    if a.extends:
        with open(a.extends, "w") as f:
            for pcr, d in log.extends:
                f.write("%d %s\n" % (pcr, d.hex()))
    for pcr in sorted(log.pcr):
        print("%d:%s" % (pcr, log.pcr[pcr].hex()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
