"""The COPY text lines of the valid records, each resolved to its case or device at the reading's time.

The lines are generated while COPY sends them, so nothing here queries the database (the connection is busy
with the COPY): identities come from the resolvers, loaded beforehand. A row is (part index, case or device
id, time, COPY line), a plain tuple: one is made for every reading.
"""

from dataclasses import dataclass

import msgspec

from telemetry.ingest import decode

_encode = msgspec.json.Encoder().encode


def pack_lines(decoded, resolver, sightings):
    """The rows of the packs of ``decoded`` (parts.Decoded). Notes in ``sightings``, {(case id, site id,
    dock): Sighting}, each case seen where the installation records do not put it, and rejects the packs that
    cannot be resolved."""
    case_at, recorded_position_at = resolver.case_at, resolver.recorded_position_at
    for group in decoded.pms:
        part_index, dataset_index, site_id = group.part.index, group.dataset_index, group.site_id
        end = f"\t{group.part.batch_id}\n"
        for valid in group.records:
            moment, pack = valid.moment, valid.record.pack
            case_id, problem = case_at(pack.id, moment)
            if case_id is None:
                place = decode.record_place(dataset_index, valid.index)
                decoded.reject(group, valid.index, valid.raw, f"{place}.pack.id: {problem}")
                continue
            cell, fet = pack.cell, pack.fet
            numbers = _encode((pack.volts, pack.amps, pack.temp, cell.volts, cell.open, fet.open, fet.temp))
            if b"e-" in numbers and (problem := _tiny_number(valid.record, dataset_index, valid.index)):
                decoded.reject(group, valid.index, valid.raw, problem)
                continue
            yield (
                part_index,
                case_id,
                moment,
                f"{valid.stamp}\t{case_id}\t{site_id}\t{pack.dock}\t{_pack_number_columns(numbers)}{end}",
            )
            recorded = recorded_position_at(case_id, moment)
            if recorded != (site_id, pack.dock):
                _note_sighting(sightings, case_id, site_id, pack.dock, recorded, moment)


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
    open Discrepancy."""

    kind: str  # "dock_mismatch": on the recorded site, in another dock; "wrong_pms": on another site
    recorded_site_id: int | None
    recorded_dock: int | None
    first_seen: object
    last_seen: object
    sample_count: int


def _note_sighting(sightings, case_id, site_id, dock, recorded, moment):
    key = (case_id, site_id, dock)
    seen = sightings.get(key)
    if seen is None:
        recorded_site, recorded_dock = recorded or (None, None)
        kind = "dock_mismatch" if recorded_site == site_id else "wrong_pms"
        sightings[key] = Sighting(kind, recorded_site, recorded_dock, moment, moment, 1)
    else:
        seen.first_seen = min(seen.first_seen, moment)
        seen.last_seen = max(seen.last_seen, moment)
        seen.sample_count += 1


def _pack_number_columns(encoded):
    """The JSON of (volts, amps, temps, cell volts, open cells, open FETs, FET temps) as tab-separated COPY
    text: b"[55.1,-1.6,[35.0],[],[2,3]]" -> "55.1\t-1.6\t{35.0}\t{}\t{2,3}". One msgspec call writes all the
    numbers in C; the first comma parts the two scalars, the first ",[" the scalars from the arrays."""
    return encoded.decode()[1:-2].replace("],[", "}\t{").replace(",[", "\t{", 1).replace(",", "\t", 1) + "}"


def _tiny_number(record, dataset_index, record_index):
    """A number PostgreSQL's real may refuse: formatted with an exponent, so looked for only then."""
    return decode.tiny_number_problem(record, decode.record_place(dataset_index, record_index))


def _array_columns(*arrays):
    """Lists of numbers as tab-separated COPY text arrays: ([1.0], [], [2, 3]) -> "{1.0}\t{}\t{2,3}".

    msgspec writes the JSON in C; JSON brackets become PostgreSQL braces."""
    return "{" + _encode(arrays).decode()[2:-2].replace("],[", "}\t{") + "}"
