"""Atomic persistent records and an append-only journal for flash (LittleFS2).

Why: a street board loses power at any instant. A record is written to `path.tmp` and renamed
onto `path` (LittleFS2 rename replaces atomically), and every byte is covered by a CRC, so a
reader sees either the old or the new value, never a torn one. Corrupt data never raises.

Record file:  b"BRG" + version(1) | length u32 | generation u32 | crc32 u32 | JSON payload
Journal frame: magic 0xB5 | type u8 | length u16 | seq u32 | crc32 u32 | JSON payload
(little endian; crc covers everything after the magic, payload included).
"""
import json
import os
import struct

from bourg import compat

VERSION = 1
MAGIC = b"BRG" + bytes([VERSION])
_HDR = "<4sIII"
HDR_SIZE = 16
MAX_RECORD = 16384

# health counters for the whole store (reported by the runtime, checked by tests)
stats = {"corrupt": 0, "from_tmp": 0, "write_errors": 0}


def _log(level, msg, *args):
    try:
        from bourg.logring import log

        log.log(level, "store", msg, *args)
    except Exception:  # noqa: BLE001, S110 - logging is best effort here
        pass


def ensure_dir(path):
    """Create every missing parent directory of `path` (os.makedirs is not on MicroPython)."""
    parts = path.split("/")[:-1]
    cur = ""
    for i, p in enumerate(parts):
        if p == "":
            if i == 0:
                cur = "/"
            continue
        cur = cur + p if cur.endswith("/") or cur == "" else cur + "/" + p
        try:
            os.mkdir(cur)
        except OSError:
            pass  # exists (or cannot be made: the open() that follows will say so)


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def remove(path):
    try:
        os.remove(path)
        return True
    except OSError:
        return False


def replace(src, dst):
    """Rename src onto dst. LittleFS2/POSIX replace atomically; FAT needs remove first, which
    leaves a window where only `src` exists: readers handle that by falling back to .tmp."""
    try:
        os.rename(src, dst)
    except OSError:
        remove(dst)
        os.rename(src, dst)


def write_atomic(path, data):
    """Write bytes to path via path.tmp + rename. Raises OSError if the filesystem fails."""
    tmp = path + ".tmp"
    ensure_dir(path)
    try:
        with open(tmp, "wb") as f:
            n = f.write(data)
            if n is not None and n != len(data):
                raise OSError(28)  # ENOSPC: short write
        compat.fsync_all()
        replace(tmp, path)
    except OSError:
        stats["write_errors"] += 1
        remove(tmp)
        raise


def encode_record(obj, generation=1):
    payload = json.dumps(obj).encode()
    if len(payload) > MAX_RECORD:
        raise ValueError(f"record too large: {len(payload)} bytes > {MAX_RECORD}")
    hdr = struct.pack("<II", len(payload), generation)
    crc = compat.crc32(payload, compat.crc32(hdr)) & 0xFFFFFFFF
    return MAGIC + hdr + struct.pack("<I", crc) + payload


def decode_record(data):
    """(generation, obj) for a complete valid record, else None."""
    if len(data) < HDR_SIZE or data[:4] != MAGIC:
        return None
    _magic, length, gen, crc = struct.unpack(_HDR, data[:HDR_SIZE])
    if length > MAX_RECORD or len(data) != HDR_SIZE + length:
        return None
    payload = data[HDR_SIZE:]
    if compat.crc32(payload, compat.crc32(data[4:12])) & 0xFFFFFFFF != crc:
        return None
    try:
        return gen, json.loads(payload)
    except ValueError:
        return None


def _read_file(path, limit):
    try:
        with open(path, "rb") as f:
            return f.read(limit + 1)
    except OSError:
        return None


def _read_valid(path):
    data = _read_file(path, HDR_SIZE + MAX_RECORD)
    if data is None:
        return None, False
    rec = decode_record(data)
    return rec, rec is None


def _peek_generation(path):
    try:
        with open(path, "rb") as f:
            h = f.read(HDR_SIZE)
        if len(h) == HDR_SIZE and h[:4] == MAGIC:
            return struct.unpack(_HDR, h)[2]
    except OSError:
        pass
    return 0


def save(path, obj):
    """Persist obj (JSON-able) atomically. Bad obj raises TypeError/ValueError before any write;
    a filesystem failure raises OSError and leaves the previous value in place."""
    gen = (_peek_generation(path) + 1) & 0xFFFFFFFF
    data = encode_record(obj, gen)
    write_atomic(path, data)


def load(path, default=None):
    """Newest valid record at path (main file or a complete .tmp left by a power cut), else
    default. Never raises on missing or corrupt data; corruption bumps stats["corrupt"]."""
    tmp = path + ".tmp"
    main, main_bad = _read_valid(path)
    alt, alt_bad = _read_valid(tmp)
    if main_bad:
        stats["corrupt"] += 1
        _log(30, "corrupt record %s", path)
    best = main
    if alt is not None and (main is None or _gen_newer(alt[0], main[0])):
        best = alt
        stats["from_tmp"] += 1
        try:  # promote, so a later torn .tmp cannot roll us back behind what we returned
            replace(tmp, path)
        except OSError:
            pass
    elif alt_bad or alt is not None:
        remove(tmp)  # stale or torn temp file: it never became the value
    if best is None:
        return default
    return best[1]


def _gen_newer(a, b):
    return ((a - b) & 0xFFFFFFFF) < 0x80000000 and a != b


# ---------------------------------------------------------------------------------------------
# Journal

FRAME_MAGIC = 0xB5
T_DATA = 1
T_HEAD = 2  # "every record with seq < this one is consumed"; also carries the next seq
_FHDR = "<BBHII"
FRAME_HDR = 12


def _frame(ftype, seq, payload):
    body = struct.pack("<BHI", ftype, len(payload), seq)
    crc = compat.crc32(payload, compat.crc32(body)) & 0xFFFFFFFF
    return bytes([FRAME_MAGIC]) + body + struct.pack("<I", crc) + payload


class Journal:
    """Append-only, CRC-framed, bounded queue of JSON records on flash.

    Each record gets a persistent, strictly increasing `seq`. Consuming records appends a small
    head marker (cheap, no rewrite); the file is compacted (temp + rename) once consumed data
    exceeds half of max_bytes, or when a torn tail must be cut. When full, the oldest records
    are dropped and counted in `dropped`.
    """

    def __init__(self, path, max_records=200, max_bytes=32768, max_payload=1024):
        self.path = path
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.max_payload = max_payload
        self.dropped = 0  # records lost to the bound since this object was made
        self.corrupt = 0  # damaged regions skipped while reading
        self._scan()

    # -- reading ------------------------------------------------------------------------------
    def _reset(self):
        self._seqs = []
        self._offs = []
        self._lens = []
        self._head = 0
        self._next = 1
        self._end = 0
        self._size = 0

    def _scan(self):
        self._reset()
        tmp = self.path + ".tmp"
        if not exists(self.path):
            if exists(tmp):  # power cut between remove and rename of a non-atomic replace
                try:
                    os.rename(tmp, self.path)
                except OSError:
                    return
            else:
                return
        else:
            remove(tmp)  # an unfinished compaction: the main file is still authoritative
        try:
            with open(self.path, "rb") as f:
                self._scan_file(f)
        except OSError:
            self._reset()

    def _scan_file(self, f):
        size = f.seek(0, 2)
        self._size = size
        off = 0
        bad = False
        while off + FRAME_HDR <= size:
            fr = self._read_frame(f, off, size)
            if fr is None:
                nxt = self._find_magic(f, off + 1, size)
                if nxt < 0:
                    break
                if not bad:
                    bad = True
                off = nxt
                continue
            if bad:
                self.corrupt += 1
                stats["corrupt"] += 1
                _log(30, "journal %s: skipped damaged bytes before %d", self.path, off)
                bad = False
            ftype, seq, ln = fr
            self._apply(ftype, seq, off, ln)
            off += FRAME_HDR + ln
            self._end = off

    def _read_frame(self, f, off, size):
        f.seek(off)
        h = f.read(FRAME_HDR)
        if len(h) < FRAME_HDR or h[0] != FRAME_MAGIC:
            return None
        _magic, ftype, ln, seq, crc = struct.unpack(_FHDR, h)
        if ftype not in (T_DATA, T_HEAD) or ln > self.max_payload or off + FRAME_HDR + ln > size:
            return None
        payload = f.read(ln)
        if len(payload) != ln:
            return None
        if compat.crc32(payload, compat.crc32(h[1:8])) & 0xFFFFFFFF != crc:
            return None
        return ftype, seq, ln

    def _find_magic(self, f, start, size):
        pos = start
        while pos + FRAME_HDR <= size:
            f.seek(pos)
            chunk = f.read(256)
            if not chunk:
                return -1
            i = chunk.find(bytes([FRAME_MAGIC]))
            while i >= 0:
                if self._read_frame(f, pos + i, size) is not None:
                    return pos + i
                i = chunk.find(bytes([FRAME_MAGIC]), i + 1)
            pos += len(chunk)
        return -1

    def _apply(self, ftype, seq, off, ln):
        if ftype == T_DATA:
            if seq >= self._head and (not self._seqs or seq > self._seqs[-1]):
                self._seqs.append(seq)
                self._offs.append(off)
                self._lens.append(ln)
            self._next = max(self._next, seq + 1)
        else:
            self._set_head(seq)
            self._next = max(self._next, seq)

    def _set_head(self, seq):
        self._head = max(self._head, seq)
        n = 0
        while n < len(self._seqs) and self._seqs[n] < self._head:
            n += 1
        if n:
            del self._seqs[:n]
            del self._offs[:n]
            del self._lens[:n]

    def __len__(self):
        return len(self._seqs)

    @property
    def next_seq(self):
        return self._next

    @property
    def torn(self):
        """True when bytes after the last valid frame exist (cut on the next append)."""
        return self._size > self._end

    @property
    def file_bytes(self):
        return self._size

    def live_bytes(self):
        n = 0
        for ln in self._lens:
            n += FRAME_HDR + ln
        return n

    def seqs(self):
        return list(self._seqs)

    def entries(self, limit=None):
        """Yield (seq, obj) for live records, oldest first. Do not mutate while iterating, and
        iterate to the end (or close() the generator): it holds the file open."""
        if not self._seqs:
            return
        try:
            f = open(self.path, "rb")  # noqa: SIM115 - a generator keeps it open between yields
        except OSError:
            return
        try:
            count = 0
            for i in range(len(self._seqs)):
                if limit is not None and count >= limit:
                    break
                f.seek(self._offs[i] + FRAME_HDR)
                raw = f.read(self._lens[i])
                try:
                    obj = json.loads(raw)
                except ValueError:
                    self.corrupt += 1
                    continue
                count += 1
                yield self._seqs[i], obj
        finally:
            f.close()

    def records(self):
        """Yield the live records (objects), oldest first."""
        for _seq, obj in self.entries():
            yield obj

    def first(self):
        """(seq, obj) of the oldest live record, or None. Reads directly (no generator): an
        abandoned generator would keep its file open until the next GC on MicroPython."""
        while self._seqs:
            try:
                with open(self.path, "rb") as f:
                    f.seek(self._offs[0] + FRAME_HDR)
                    raw = f.read(self._lens[0])
            except OSError:
                return None
            try:
                return self._seqs[0], json.loads(raw)
            except ValueError:  # CRC-valid but not JSON: only a writer bug can do this
                self.corrupt += 1
                self._set_head(self._seqs[0] + 1)
        return None

    # -- writing ------------------------------------------------------------------------------
    def _write(self, data):
        ensure_dir(self.path)
        try:
            with open(self.path, "ab") as f:
                n = f.write(data)
            if n is not None and n != len(data):
                raise OSError(28)
        except OSError:
            stats["write_errors"] += 1
            self._scan()  # learn what actually reached the flash
            raise
        start = self._end
        self._end += len(data)
        self._size = self._end
        return start

    def append(self, obj):
        """Append obj; returns its seq. Oversized/non-JSON obj raises ValueError/TypeError
        and changes nothing. When full, the oldest records are dropped (and counted)."""
        payload = json.dumps(obj).encode()
        if len(payload) > self.max_payload:
            raise ValueError(f"journal record too large: {len(payload)} > {self.max_payload} bytes")
        if self.torn:
            self.compact()
        data = b""
        over = len(self._seqs) + 1 - self.max_records
        if over > 0:
            self.dropped += over
            self._set_head(self._seqs[over - 1] + 1)
            data = _frame(T_HEAD, self._head, b"")
        seq = self._next
        frame = _frame(T_DATA, seq, payload)
        start = self._write(data + frame)
        self._seqs.append(seq)
        self._offs.append(start + len(data))
        self._lens.append(len(payload))
        self._next = seq + 1
        if self._end > self.max_bytes:
            self.compact()
            while self.live_bytes() > self.max_bytes and len(self._seqs) > 1:
                self.dropped += 1
                self._set_head(self._seqs[0] + 1)
                self.compact()
        return seq

    def drop_through(self, seq):
        """Consume every record with seq <= `seq` (idempotent; used after a PUBACK)."""
        if seq + 1 <= self._head:
            return 0
        before = len(self._seqs)
        self._set_head(seq + 1)
        self._next = max(self._next, seq + 1)
        self._write(_frame(T_HEAD, self._head, b""))
        if self._end - self.live_bytes() > self.max_bytes // 2:
            self.compact()
        return before - len(self._seqs)

    def drop_first(self, n=1):
        """Consume the n oldest records."""
        if n <= 0 or not self._seqs:
            return 0
        n = min(n, len(self._seqs))
        return self.drop_through(self._seqs[n - 1])

    def clear(self):
        self.drop_through(self._next - 1)

    def compact(self):
        """Rewrite only the live records (plus a head marker keeping seq) via temp + rename."""
        tmp = self.path + ".tmp"
        ensure_dir(self.path)
        head = self._seqs[0] if self._seqs else self._next
        offs = []
        try:
            with open(tmp, "wb") as out:
                marker = _frame(T_HEAD, head, b"")
                out.write(marker)
                pos = len(marker)
                if self._seqs:
                    with open(self.path, "rb") as src:
                        for i in range(len(self._seqs)):
                            src.seek(self._offs[i])
                            fr = src.read(FRAME_HDR + self._lens[i])
                            if len(fr) != FRAME_HDR + self._lens[i]:
                                raise OSError(5)  # EIO: the file changed under us
                            out.write(fr)
                            offs.append(pos)
                            pos += len(fr)
            compat.fsync_all()
            replace(tmp, self.path)
        except OSError:
            stats["write_errors"] += 1
            remove(tmp)
            raise
        self._offs = offs
        self._head = head
        self._end = pos
        self._size = pos
