#!/usr/bin/python3
"""Runs the virtual smart card project's ePassport emulator (Debian's vsmartcard-vpicc) with
chip files given on the command line, so that `idgate passport read` can be checked against a
chip implementation that is not ours, through real PC/SC (pcscd and vsmartcard-vpcd).

    scripts/vicc-passport.py --files DIR [--port 35963]

DIR holds EF.COM, EF.SOD and the data groups as `EF_COM.bin`, `EF_SOD.bin`, `DG1.bin`,
`DG2.bin`, ... (the layout `idgate passport read --out` writes). The emulator derives its BAC
key from the MRZ in DG1, as a real chip's personalisation would.

The package is used as installed; nothing in it is changed. Its own card generator prompts
for an MRZ and a photo on the terminal, so this script builds the card's file system itself
with the package's file classes and its `PassportSAM`. Three things are adapted at run time,
none of them protocol logic:
  * the package imports PyCrypto's `Crypto` namespace; Debian's PyCryptodome installs the same
    API as `Cryptodome`, which is aliased;
  * `CryptoUtils.operation_on_string` (XOR of the BAC key seeds), `TLVutils.pack` (BER-TLV
    encoding of secure-messaging objects) and `utils.stringtoint` (given `bytes[0]`, an int on
    Python 3) are Python 2 code that fails on Python 3 bytes; they are replaced by
    byte-for-byte equivalents.
"""

import argparse
import importlib
import importlib.abc
import importlib.util
import os
import sys

# Debian installs the package one directory too deep (…/site-packages/virtualsmartcard/…).
PACKAGE_ROOTS = [
    "/usr/lib/python3/site-packages/virtualsmartcard",
    "/usr/lib/python3/dist-packages",
]


class _CryptoAlias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves `Crypto.X` as the module `Cryptodome.X` (same API, PyCryptodome's name)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname == "Crypto" or fullname.startswith("Crypto."):
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return importlib.import_module("Cryptodome" + spec.name[len("Crypto"):])

    def exec_module(self, module):
        pass


def _xor_bytes(a, b, op):
    if len(a) != len(b):
        raise ValueError("operands must be of equal length")
    return bytes(op(x, y) for x, y in zip(a, b))


def _ber_length(n):
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _patch_python2_helpers():
    import virtualsmartcard.CryptoUtils as crypto_utils
    import virtualsmartcard.TLVutils as tlv_utils
    import virtualsmartcard.utils as utils

    original_pack = tlv_utils.pack
    original_stringtoint = utils.stringtoint

    def stringtoint(data):
        """utils.stringtoint on Python 3: indexing bytes gives an int, where Python 2 gave a
        one-character string (the padding indicator of DO'87', `value[0]`)."""
        if isinstance(data, int):
            return data
        return original_stringtoint(data)

    def pack(tlv_data, recalculate_length=False):
        """TLVutils.pack on Python 3: (tag, length, value) triples to BER-TLV bytes; a value
        that is not bytes is a nested list; tags 00 and FF are filler bytes."""
        out = b""
        for item in tlv_data:
            tag, length, value = item[:3]
            if tag in (0x00, 0xFF):
                out += bytes([tag])
                continue
            if not isinstance(value, bytes):
                value = pack(value, recalculate_length)
            if recalculate_length:
                length = len(value)
            out += tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")
            out += _ber_length(length) + value
        return out

    crypto_utils.operation_on_string = _xor_bytes
    # Modules that imported a name before the patch hold the original function.
    for name, module in list(sys.modules.items()):
        if not name.startswith("virtualsmartcard"):
            continue
        if getattr(module, "pack", None) is original_pack:
            module.pack = pack
        if getattr(module, "stringtoint", None) is original_stringtoint:
            module.stringtoint = stringtoint


def build_card(files_dir):
    from virtualsmartcard.SmartcardFilesystem import MF, DF, TransparentStructureEF
    from virtualsmartcard.cards.ePass import PassportSAM

    mf = MF()
    # The eMRTD application (ICAO 9303-10 §3.10.1), reached by SELECT with its AID.
    df = DF(parent=mf, fid=4, dfname=b"\xa0\x00\x00\x02\x47\x10\x01", bertlv_data=[])
    names = {"EF_COM.bin": 0x011E, "EF_SOD.bin": 0x011D}
    names.update({"DG%d.bin" % n: 0x0100 + n for n in range(1, 17)})
    loaded = []
    for name, fid in sorted(names.items(), key=lambda kv: kv[1]):
        path = os.path.join(files_dir, name)
        if os.path.exists(path):
            with open(path, "rb") as f:
                df.append(TransparentStructureEF(parent=df, fid=fid, filedescriptor=0, data=f.read()))
            loaded.append(name)
    if "DG1.bin" not in loaded:
        raise SystemExit("vicc-passport: %s has no DG1.bin (the BAC key comes from its MRZ)" % files_dir)
    mf.append(df)
    return mf, PassportSAM(mf), loaded


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", required=True, help="directory of EF_COM.bin, EF_SOD.bin, DGn.bin")
    parser.add_argument("--host", default="localhost", help="where vpcd listens (default: localhost)")
    parser.add_argument("--port", type=int, default=35963, help="vpcd's port (default: 35963)")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log every APDU (-vv: and the emulator's tracebacks)")
    args = parser.parse_args()

    for root in PACKAGE_ROOTS:
        if os.path.isdir(os.path.join(root, "virtualsmartcard")) and root not in sys.path:
            sys.path.insert(0, root)
    sys.meta_path.insert(0, _CryptoAlias())
    import logging

    import virtualsmartcard.VirtualSmartcard as vs
    from virtualsmartcard.CardGenerator import CardGenerator

    _patch_python2_helpers()
    mf, sam, loaded = build_card(args.files)

    # VirtualICC asks its CardGenerator for the card; handing it one that already holds the
    # file system and SAM skips the interactive generator.
    vs.CardGenerator = lambda card_type: CardGenerator(card_type, sam=sam, mf=mf)
    vicc = vs.VirtualICC(None, "ePass", args.host, args.port,
                         logginglevel=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)])
    print("vicc-passport: card with %s connected to vpcd at %s:%d" % (
        ", ".join(loaded), args.host, args.port), file=sys.stderr, flush=True)
    try:
        vicc.run()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
