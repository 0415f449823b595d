#!/usr/bin/env python3
"""Generates music-streaming sample data laid out like the raw bucket (streams/, songs/, users/).

Seeded and reproducible at any scale: Zipf-like track popularity, ~100 genres, several days, track
titles and artists with commas, quotes, ';' (several artists) and non-ASCII characters.

    python scripts/generate_data.py OUT_DIR --streams 5000000 --songs 100000 --users 50000
"""

from __future__ import annotations

import argparse
import csv
import itertools
import random
from datetime import datetime, timedelta
from pathlib import Path

GENRES = [
    "acoustic",
    "afrobeat",
    "alt-rock",
    "alternative",
    "ambient",
    "anime",
    "black-metal",
    "bluegrass",
    "blues",
    "brazil",
    "breakbeat",
    "british",
    "cantopop",
    "chicago-house",
    "children",
    "chill",
    "classical",
    "club",
    "comedy",
    "country",
    "dance",
    "dancehall",
    "death-metal",
    "deep-house",
    "detroit-techno",
    "disco",
    "disney",
    "drum-and-bass",
    "dub",
    "dubstep",
    "edm",
    "electro",
    "electronic",
    "emo",
    "folk",
    "forro",
    "french",
    "funk",
    "garage",
    "german",
    "gospel",
    "goth",
    "grindcore",
    "groove",
    "grunge",
    "guitar",
    "happy",
    "hard-rock",
    "hardcore",
    "hardstyle",
    "heavy-metal",
    "hip-hop",
    "honky-tonk",
    "house",
    "idm",
    "indian",
    "indie",
    "indie-pop",
    "industrial",
    "iranian",
    "j-dance",
    "j-idol",
    "j-pop",
    "j-rock",
    "jazz",
    "k-pop",
    "kids",
    "latin",
    "latino",
    "malay",
    "mandopop",
    "metal",
    "metalcore",
    "minimal-techno",
    "mpb",
    "new-age",
    "opera",
    "pagode",
    "party",
    "piano",
    "pop",
    "pop-film",
    "power-pop",
    "progressive-house",
    "psych-rock",
    "punk",
    "punk-rock",
    "r-n-b",
    "reggae",
    "reggaeton",
    "rock",
    "rock-n-roll",
    "rockabilly",
    "romance",
    "sad",
    "salsa",
    "samba",
    "sertanejo",
    "show-tunes",
    "singer-songwriter",
    "ska",
    "sleep",
    "soul",
    "spanish",
    "study",
    "swedish",
    "synth-pop",
    "tango",
    "techno",
    "trance",
    "trip-hop",
    "turkish",
    "world-music",
][:100]
WORDS = [
    "Love",
    "Night",
    "Heart",
    "Fire",
    "Rain",
    "Dance",
    "Dream",
    "Road",
    "Sky",
    "Blue",
    "Café",
    "Señor",
    "Über",
    "Niño",
    "Straße",
    "東京",
    "Ça va",
    "Mañana",
    "Sœur",
    "Ølstue",
]
FIRST = [
    "Ana",
    "Björk",
    "Chloé",
    "Diego",
    "Émile",
    "Fatima",
    "György",
    "Hana",
    "Iñaki",
    "Jun",
    "Kai",
    "Lætitia",
    "Mateo",
    "Nuño",
    "Olu",
    "Paulo",
    "Quinn",
    "Renée",
    "Søren",
    "Zoë",
]
LAST = [
    "Smith",
    "Müller",
    "García",
    "O'Brien",
    "Nguyen",
    "Dvořák",
    "Kowalski",
    "Silva",
    "Andersson",
    "Rossi",
    "Yılmaz",
    "Kim",
    "Ivanov",
    "Costa",
    "Haddad",
]
COUNTRIES = ["US", "GB", "DE", "FR", "BR", "MX", "JP", "KR", "IN", "NG", "SE", "ES", "IT", "TR"]
SONG_COLUMNS = [
    "id",
    "track_id",
    "artists",
    "album_name",
    "track_name",
    "popularity",
    "duration_ms",
    "explicit",
    "danceability",
    "energy",
    "key",
    "loudness",
    "mode",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "liveness",
    "valence",
    "tempo",
    "time_signature",
    "track_genre",
]


def title(rng: random.Random) -> str:
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3)))
    decorations = [
        words,
        f"{words}, Pt. {rng.randint(2, 4)}",
        f'{words} ("Live")',
        f"{words} - Remastered",
        f'"{words}"',
    ]
    return rng.choices(decorations, weights=[6, 1, 1, 1, 1])[0]


def artists(rng: random.Random) -> str:
    return ";".join(
        f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in range(rng.choice([1, 1, 1, 2, 3]))
    )


def write_songs(path: Path, rng: random.Random, count: int) -> list[str]:
    track_ids = [f"{rng.getrandbits(64):016x}{i:06d}"[-22:] for i in range(count)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(SONG_COLUMNS)
        for i, track_id in enumerate(track_ids):
            writer.writerow(
                [
                    i,
                    track_id,
                    artists(rng),
                    title(rng),
                    title(rng),
                    rng.randint(0, 100),
                    rng.randint(90_000, 420_000),
                    rng.choice(["True", "False"]),
                    round(rng.random(), 3),
                    round(rng.random(), 3),
                    rng.randint(0, 11),
                    round(rng.uniform(-30, 0), 3),
                    rng.randint(0, 1),
                    round(rng.random() / 3, 4),
                    round(rng.random(), 4),
                    round(rng.random() / 5, 6),
                    round(rng.random(), 4),
                    round(rng.random(), 3),
                    round(rng.uniform(60, 200), 3),
                    rng.choice([3, 4, 4, 4, 5]),
                    GENRES[i % len(GENRES)],
                ]
            )
    return track_ids


def write_users(path: Path, rng: random.Random, count: int) -> list[str]:
    user_ids = [str(10_000 + i) for i in range(count)]
    start = datetime(2020, 1, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["user_id", "user_name", "user_age", "user_country", "created_at"])
        for user_id in user_ids:
            writer.writerow(
                [
                    user_id,
                    f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                    rng.randint(13, 80),
                    rng.choice(COUNTRIES),
                    (start + timedelta(minutes=rng.randrange(2_000_000))).strftime(
                        "%Y-%m-%d %H:%M:%S"
                    ),
                ]
            )
    return user_ids


def write_streams(
    out_dir: Path,
    rng: random.Random,
    count: int,
    track_ids: list[str],
    user_ids: list[str],
    first_day: datetime,
    days: int,
    files: int,
    file_per_day: bool = False,
    file_name: str = "",
) -> list[Path]:
    """Streams over ``days`` days from ``first_day``, in ``files`` files (each spanning all the
    days), or with ``file_per_day`` one file per day, ``streams_YYYY-MM-DD.csv``, as daily
    uploads would be."""
    if file_per_day:
        per_day = -(-count // days)
        return [
            path
            for day in range(days)
            for path in write_streams(
                out_dir,
                rng,
                min(per_day, count - day * per_day),
                track_ids,
                user_ids,
                first_day + timedelta(days=day),
                1,
                1,
                file_name=f"streams_{(first_day + timedelta(days=day)):%Y-%m-%d}.csv",
            )
        ]
    # Zipf-like: the k-th most popular track is played ~1/k^1.1 as often as the first.
    ranked = track_ids[:]
    rng.shuffle(ranked)
    cum_weights = list(itertools.accumulate(1 / (k**1.1) for k in range(1, len(ranked) + 1)))
    seconds = days * 86_400
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [file_name] if file_name else [f"streams_{n + 1:02d}.csv" for n in range(files)]
    paths = [out_dir / name for name in names]
    per_file = -(-count // files)
    written = 0
    for path in paths:
        n = min(per_file, count - written)
        tracks = rng.choices(ranked, cum_weights=cum_weights, k=n)
        users = rng.choices(user_ids, k=n)
        offsets = sorted(rng.randrange(seconds) for _ in range(n))
        with path.open("w", newline="", encoding="utf-8") as out:
            out.write("user_id,track_id,listen_time\n")
            out.writelines(
                f"{u},{t},{(first_day + timedelta(seconds=s)).strftime('%Y-%m-%d %H:%M:%S')}\n"
                for u, t, s in zip(users, tracks, offsets)
            )
        written += n
    return paths


def generate(
    out_dir: Path,
    streams: int,
    songs: int,
    users: int,
    days: int,
    files: int,
    seed: int,
    first_day: str,
    file_per_day: bool = False,
) -> None:
    rng = random.Random(seed)
    track_ids = write_songs(out_dir / "songs" / "songs.csv", rng, songs)
    user_ids = write_users(out_dir / "users" / "users.csv", rng, users)
    write_streams(
        out_dir / "streams",
        rng,
        streams,
        track_ids,
        user_ids,
        datetime.strptime(first_day, "%Y-%m-%d"),
        days,
        files,
        file_per_day,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--streams", type=int, default=3000)
    parser.add_argument("--songs", type=int, default=400)
    parser.add_argument("--users", type=int, default=150)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--files", type=int, default=1, help="streams files to split into")
    parser.add_argument("--first-day", default="2024-06-01")
    parser.add_argument(
        "--file-per-day", action="store_true", help="one streams file per day (daily uploads)"
    )
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    generate(
        args.out_dir,
        args.streams,
        args.songs,
        args.users,
        args.days,
        args.files,
        args.seed,
        args.first_day,
        args.file_per_day,
    )


if __name__ == "__main__":
    main()
