"""The COPY text of the valid records, each resolved to its case or device at the reading's time, in chunks
of about COPY_CHUNK_LINES lines; ``Sent`` keeps what was sent.

The text is generated while COPY sends it, so nothing here queries the database (the connection is busy
with the COPY): identities come from the resolvers, loaded beforehand. PMS records are decoded here too, so
that PostgreSQL parses one chunk while Python decodes and formats the next.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice

import msgspec

from telemetry.ingest import decode
from telemetry.ingest.resolve import Span

_encode = msgspec.json.Encoder().encode
COPY_CHUNK_LINES = 500

# The order of the pack columns in the COPY text: that of the rows pack_chunks encodes as JSON in one go per
# chunk, then turns into COPY text (see _pack_copy_text). An array lies between any two other columns, so the
# edges of the arrays alone say where a column starts.
PACK_COLUMNS = [
    "time", "utc_offset_minutes", "temps", "case_id", "site_id", "dock", "board_id", "batch_id",
    "cell_volts", "volts", "open_cells", "amps", "fet_open", "fet_temps",
]  # fmt: skip
_BRACKETS_TO_BRACES = bytes.maketrans(b"[]", b"{}")
_NO_SPAN = Span(datetime.max.replace(tzinfo=UTC), None, None)  # no recorded position: covers no time


class Sent:
    """What the COPY of one kind was sent: the chunks of text (kept for the staging fallback, which cannot
    generate them again), the rows of each part index, and where the line of each entity's newest row is."""

    def __init__(self):
        self.chunks = []
        self.received = Counter()
        self._newest = {}  # entity -> (time, chunk number, line number)

    def add(self, text, rows):
        """Note the chunk ``text``, whose lines are ``rows``: (part index, entity, time, ...) each."""
        number = len(self.chunks)
        self.chunks.append(text)
        received, newest = self.received, self._newest
        for line, row in enumerate(rows):
            entity, moment = row[1], row[2]
            received[row[0]] += 1
            known = newest.get(entity)
            if known is None or moment > known[0]:
                newest[entity] = (moment, number, line)
        return text

    def add_chunk(self, text, received, newest):
        """Note the chunk ``text``: ``received``, its rows per part index; ``newest``, entity -> (time, line)
        of the entity's newest line in it."""
        number = len(self.chunks)
        self.chunks.append(text)
        for part_index, count in received.items():
            self.received[part_index] += count
        known_newest = self._newest
        for entity, (moment, line) in newest.items():
            known = known_newest.get(entity)
            if known is None or moment > known[0]:
                known_newest[entity] = (moment, number, line)
        return text

    def newest_text(self):
        """The lines of each entity's newest row, as one chunk of COPY text."""
        split = {}
        lines = []
        for _, number, line in self._newest.values():
            if number not in split:
                text = self.chunks[number]
                split[number] = text.split(b"\n" if isinstance(text, bytes) else "\n")
            lines.append(split[number][line])
        if not lines:
            return ""
        if isinstance(lines[0], bytes):
            return b"\n".join(lines) + b"\n"
        return "\n".join(lines) + "\n"


def row_chunks(rows, sent):
    """COPY text of up to COPY_CHUNK_LINES ``rows``, (part index, entity, time, COPY text line), each, noted
    in ``sent``."""
    rows = iter(rows)
    while chunk := list(islice(rows, COPY_CHUNK_LINES)):
        yield sent.add("".join(line for _, _, _, line in chunk), chunk)


def pms_records(decoded):
    """(group, record index, raw record, record, time, COPY text of the time) of each PMS record of
    ``decoded`` (parts.Decoded) that decodes; the others are rejected."""
    decode_record, parse_time, parsed = decode.decode_pms_record, decoded.parse_time, decoded.parse_time.seen
    for group in decoded.pms:
        dataset_index = group.dataset_index
        add_time = decoded.times[group.part.index].add
        for record_index, raw in group.raw_records:
            try:
                record = decode_record(raw, dataset_index, record_index)
                moment, stamp = parsed.get(record.time_local) or parse_time(
                    record.time_local, dataset_index, record_index
                )
            except decode.DecodeError as error:
                decoded.reject(group, record_index, raw, str(error))
                continue
            add_time(moment)
            yield group, record_index, raw, record, moment, stamp


def pack_chunks(decoded, records, resolver, sightings, sent, deferred=None):
    """COPY text (bytes) of ``records`` (from pms_records) of ``decoded``: a record whose pack cannot be
    resolved is rejected. Notes in ``sightings``, {(case id, site id, dock): Sighting}, each case seen where
    the installation records do not put it. With a list ``deferred``, a record whose pack id the resolver
    has not loaded yet goes there instead (the connection is busy with the COPY): the caller loads them and
    sends them after.

    A row is the tuple of its columns in PACK_COLUMNS order, the time and UTC offset as one ready COPY text,
    the ids as another (msgspec.Raw: written as they are); a chunk's rows are encoded as JSON in one msgspec
    call. What ``sent`` keeps of a chunk (rows per part, each case's newest line) is counted here, in the
    same pass."""
    case_at, packs, positions = resolver.case_at, resolver.packs, resolver.positions
    cases = {}  # pack id -> its case, for Case ids (a board's case depends on the time)
    spans = {}  # case id -> the span of its recorded position that answered last
    ids = {}  # (part index, case id, dock, board id) -> their COPY text with the site's and the batch's
    stamps = {}  # the COPY text of a time -> the same as msgspec.Raw
    # A chunk's: its rows; the records they come from (items of ``records``); each case's newest line,
    # case id -> (time, line); the rows of each part, part index -> count, the current part's counted from
    # line ``first``; the lines not in their recorded dock, (line, case id, site id, dock, recorded, time).
    rows, items, newest, received, unmatched = [], [], {}, {}, []
    group = part_index = first = None
    for item in records:
        if item[0] is not group:
            group = item[0]
            if group.part.index != part_index:
                if part_index is not None:
                    received[part_index] = received.get(part_index, 0) + len(rows) - first
                part_index, first = group.part.index, len(rows)
            site_id, batch_id = group.site_id, group.part.batch_id
            # Without hyphens, as PostgreSQL also reads a UUID: "e-" in a chunk then comes from a number.
            batch_text = "None" if batch_id is None else batch_id.hex
        _, record_index, raw, record, moment, stamp = item
        pack = record.pack
        pack_id = pack.id
        case_id = cases.get(pack_id)
        board_id = None
        if case_id is None:
            if deferred is not None and pack_id not in packs:
                deferred.append(item)
                continue
            case_id, board_id, problem = case_at(pack_id, moment)
            if case_id is None:
                place = decode.record_place(group.dataset_index, record_index)
                decoded.reject(group, record_index, raw, f"{place}.pack.id: {problem}")
                continue
            if board_id is None:
                cases[pack_id] = case_id
        dock = pack.dock
        key = (part_index, case_id, dock, board_id)
        text = ids.get(key)
        if text is None:
            text = ids[key] = msgspec.Raw(f"{case_id}\t{site_id}\t{dock}\t{board_id}\t{batch_text}".encode())
        time_text = stamps.get(stamp)
        if time_text is None:
            time_text = stamps[stamp] = msgspec.Raw(stamp.encode())
        line = len(rows)
        cell, fet = pack.cell, pack.fet
        rows.append(
            (time_text, pack.temp, text, cell.volts, pack.volts, cell.open, pack.amps, fet.open, fet.temp)
        )
        items.append(item)
        known = newest.get(case_id)
        if known is None or moment > known[0]:
            newest[case_id] = (moment, line)
        span = spans.get(case_id)
        if span is None or not (span.start <= moment and (span.end is None or moment < span.end)):
            span = spans[case_id] = next(
                (span for span in positions.get(case_id, ()) if span.covers(moment)), _NO_SPAN
            )
        recorded = span.value
        if recorded is None or recorded[1] != dock or recorded[0] != site_id:
            unmatched.append((line, case_id, site_id, dock, recorded, moment))
        if line + 1 == COPY_CHUNK_LINES:
            received[part_index] = received.get(part_index, 0) + COPY_CHUNK_LINES - first
            yield _pack_chunk(rows, items, newest, received, unmatched, decoded, sightings, sent, ids)
            rows, items, newest, received, unmatched, first = [], [], {}, {}, [], 0
    if rows:
        received[part_index] = received.get(part_index, 0) + len(rows) - first
        yield _pack_chunk(rows, items, newest, received, unmatched, decoded, sightings, sent, ids)


def _pack_chunk(rows, items, newest, received, unmatched, decoded, sightings, sent, ids):
    encoded = _encode(rows)
    if b"e-" in encoded:  # perhaps a number PostgreSQL's real refuses
        dropped = set()
        for line, (row, item) in enumerate(zip(rows, items, strict=True)):
            group, record_index, raw = item[:3]
            if b"e-" in _encode(row):
                record = decode.decode_pms_record(raw, group.dataset_index, record_index)
                problem = _tiny_number(record, group.dataset_index, record_index)
                if problem:
                    decoded.reject(group, record_index, raw, problem)
                    dropped.add(line)
        if dropped:
            rows, items, newest, received, unmatched = _without(rows, items, unmatched, dropped, ids)
            if not rows:
                return b""
            encoded = _encode(rows)
    for _, case_id, site_id, dock, recorded, moment in unmatched:
        _note_sighting(sightings, case_id, site_id, dock, recorded, moment)
    return sent.add_chunk(_pack_copy_text(encoded), received, newest)


def _without(rows, items, unmatched, dropped, ids):
    """A chunk's rows, items, newest lines, rows per part and unmatched lines without the lines ``dropped``
    (rare: a number too small for PostgreSQL), counted again."""
    case_of_text = {id(text): key[1] for key, text in ids.items()}
    kept = [
        (row, item) for line, (row, item) in enumerate(zip(rows, items, strict=True)) if line not in dropped
    ]
    newest, received = {}, {}
    for line, (row, item) in enumerate(kept):
        case_id, moment, part_index = case_of_text[id(row[2])], item[4], item[0].part.index
        received[part_index] = received.get(part_index, 0) + 1
        known = newest.get(case_id)
        if known is None or moment > known[0]:
            newest[case_id] = (moment, line)
    unmatched = [note for note in unmatched if note[0] not in dropped]
    return [row for row, _ in kept], [item for _, item in kept], newest, received, unmatched


def _pack_copy_text(encoded):
    """The JSON of a chunk's rows, [[<time>,[temps],<ids>,[cells],volts,[open],amps,[open FETs],[FET temps]],
    ...] (the time and the ids written as they are), as COPY text, a line each:
    "<time>\t{temps}\t<ids>\t{cells}\tvolts\t{open}\tamps\t{open FETs}\t{FET temps}".

    The arrays hold numbers only and lie between any two other columns (PACK_COLUMNS), so with their brackets
    made braces, "}},{" ends a row, and a comma after "}" or before "{" ends a column."""
    return (
        encoded.translate(_BRACKETS_TO_BRACES)[2:-2]
        .replace(b"}},{", b"}\n")
        .replace(b"},", b"}\t")
        .replace(b",{", b"\t{")
        + b"\n"
    )


def device_lines(decoded, kind, resolver):
    """The rows of one kind of device of ``decoded``. A reading is stored under the site its device was
    installed at, at the reading's time; from a gateway, only if that is the gateway's own site."""
    for group in decoded.devices[kind]:
        part, dataset, dataset_index = group.part, group.dataset, group.dataset_index
        device_id = resolver.devices.get(dataset.device_id)
        for valid in group.records:
            moment = valid.moment
            site_id = resolver.site_at(device_id, moment) if device_id else None
            if device_id is None:
                problem = f"{dataset.device_id!r} is not the id of any {kind}"
            elif part.site is not None and site_id != part.site.id:
                problem = (
                    f"{dataset.device_id!r} was not installed at {part.site.name} at {moment.isoformat()}"
                )
            elif site_id is None:
                problem = f"{dataset.device_id!r} was not installed on a site at {moment.isoformat()}"
            else:
                record = valid.record
                pv, batt, load = record.pv, record.batt, record.load
                numbers = (
                    f"{_array_columns(pv.volts, pv.amps)}\t{batt.volts!r}\t{batt.amps!r}\t"
                    f"{_array_columns(load.volts, load.amps)}"
                )
                if "e-" not in numbers or not (problem := _tiny_number(record, dataset_index, valid.index)):
                    yield (
                        part.index,
                        device_id,
                        moment,
                        f"{valid.stamp}\t{device_id}\t{site_id}\t{numbers}\t{part.batch_id}\n",
                    )
                    continue
                decoded.reject(group, valid.index, valid.raw, problem)
                continue
            decoded.reject(group, valid.index, valid.raw, f"datasets[{dataset_index}].{kind}.id: {problem}")


@dataclass(slots=True)
class Sighting:
    """A case seen in a dock the installation records do not put it in, over one ingest: the makings of an
    open Discrepancy. ``moments``: the times of its readings; copy.py keeps only those stored (a re-sent
    reading is not counted twice)."""

    recorded_site_id: int | None
    recorded_dock: int | None
    moments: list


def _note_sighting(sightings, case_id, site_id, dock, recorded, moment):
    key = (case_id, site_id, dock)
    seen = sightings.get(key)
    if seen is None:
        recorded_site, recorded_dock = recorded or (None, None)
        sightings[key] = Sighting(recorded_site, recorded_dock, [moment])
    else:
        seen.moments.append(moment)


def _tiny_number(record, dataset_index, record_index):
    """A number PostgreSQL's real may refuse: formatted with an exponent, so looked for only then."""
    return decode.tiny_number_problem(record, decode.record_place(dataset_index, record_index))


def _array_columns(*arrays):
    """Lists of numbers as tab-separated COPY text arrays: ([1.0], [], [2, 3]) -> "{1.0}\t{}\t{2,3}".

    msgspec writes the JSON in C; JSON brackets become PostgreSQL braces."""
    return "{" + _encode(arrays).decode()[2:-2].replace("],[", "}\t{") + "}"
