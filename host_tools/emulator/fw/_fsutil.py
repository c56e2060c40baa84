"""Host-side flash utility, run by the real VM while the board is off: format the LittleFS2
image, copy a staged folder into it, or copy the whole flash out to a folder."""
import os
import sys
import vfs

sys.path.insert(0, os.getenv("BOURG_FW"))
import _flashdev  # noqa: E402


class _NoWorld:
    def call(self, *a, **k):
        pass


_flashdev._world = _NoWorld()


def _walk_in(src, dst):
    for name, kind, *_ in os.ilistdir(src):
        s = src + "/" + name
        d = dst + "/" + name if dst != "/" else "/" + name
        if kind == 0x4000:
            try:
                os.mkdir("/flash" + d)
            except OSError:
                pass
            _walk_in(s, d)
        else:
            with open(s, "rb") as fi, open("/flash" + d, "wb") as fo:
                while True:
                    b = fi.read(4096)
                    if not b:
                        break
                    fo.write(b)


def _walk_out(src, dst):
    for name, kind, *_ in os.ilistdir("/flash" + src):
        s = src.rstrip("/") + "/" + name
        d = dst + "/" + name
        if kind == 0x4000:
            try:
                os.mkdir(d)
            except OSError:
                pass
            _walk_out(s, d)
        else:
            with open("/flash" + s, "rb") as fi, open(d, "wb") as fo:
                fo.write(fi.read())


def main():
    cmd = sys.argv[1]
    f = open(os.getenv("BOURG_FLASH"), "r+b")
    f.seek(0, 2)
    dev = _flashdev.Flash(f, f.tell() // _flashdev.BLOCK)
    if cmd == "format":
        vfs.VfsLfs2.mkfs(dev)
    fs = vfs.VfsLfs2(dev)
    vfs.mount(fs, "/flash")
    if cmd in ("format", "install"):
        _walk_in(sys.argv[2], "/")
    elif cmd == "dump":
        _walk_out("/", sys.argv[2])
    vfs.umount("/flash")
    f.close()


main()
