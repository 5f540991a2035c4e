"""Command line: ``vidconsult serve``, ``token``, ``import``, ``archive``, ``account`` and
``record`` (the external recorder)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from vidconsult import event_loop
from vidconsult.config import Settings, flag, variable
from vidconsult.domain.roles import Role
from vidconsult.tokens import TokenSigner

if TYPE_CHECKING:
    from vidconsult.tls import ServerTls


def _add_settings_flags(parser: argparse.ArgumentParser) -> None:
    """A flag for every field of Settings, its help from the field's description."""
    for name, info in Settings.model_fields.items():
        help_text = f"{info.description or ''} [env {variable(name)}]"
        if info.annotation is bool:  # a switch: the flag alone turns it on
            parser.add_argument(
                flag(name), action="store_const", const="true", default=None, help=help_text
            )
        else:
            parser.add_argument(flag(name), dest=name, default=None, help=help_text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vidconsult", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server (REST, signaling, media) in one process")
    _add_settings_flags(serve)

    token = sub.add_parser("token", help="print a signed token (an operator's way in)")
    token.add_argument("--identity", required=True)
    token.add_argument("--role", required=True, choices=[r.value for r in Role])
    token.add_argument("--room", default=None, help="room id (omit for a coordinator API token)")
    token.add_argument("--name", default=None, help="display name")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    token.add_argument("--data-dir", dest="data_dir", default=None)
    token.add_argument("--secret", default=None)

    imp = sub.add_parser(
        "import",
        help="import units or experts from a CSV file (all rows or "
        "none: bad rows are reported with their line numbers)",
    )
    imp.add_argument("kind", choices=["units", "experts"])
    imp.add_argument("file", help="CSV with a header row (see vidconsult/importer.py)")
    imp.add_argument("--data-dir", dest="data_dir", default=None)
    imp.add_argument("--store", default=None)
    imp.add_argument("--no-progress", action="store_true", help="no progress bar")

    from vidconsult.archive_cli import register_cli as register_archive

    register_archive(sub)

    from vidconsult.external_recorder import add_arguments as recorder_arguments

    record = sub.add_parser(
        "record",
        help="the external recorder: archive a room from this machine through the "
        "SDK (bring it home with `vidconsult archive import`)",
    )
    recorder_arguments(record)

    account = sub.add_parser(
        "account", help="dashboard accounts (coordinators, experts, unit doctors)"
    )
    account_sub = account.add_subparsers(dest="account_command", required=True)
    create = account_sub.add_parser(
        "create",
        help="create an account; the password is read from stdin, or generated and printed once",
    )
    create.add_argument("--username", required=True)
    create.add_argument("--role", required=True, choices=["coordinator", "expert", "doctor"])
    create.add_argument("--name", default="", help="display name")
    create.add_argument("--unit", default=None, help="a unit doctor's unit id (role doctor)")
    create.add_argument("--phone", default="", help="where pages reach this person (SMS/phone)")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    create.add_argument("--data-dir", dest="data_dir", default=None)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {name: getattr(args, name, None) for name in Settings.model_fields}
    return Settings.from_env(**overrides)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = _settings(args)
    except ValueError as exc:
        print(f"vidconsult: {exc}", file=sys.stderr)
        return 2
    if args.command == "token":
        return _token(settings, args)
    if args.command == "import":
        return _import(settings, args)
    if args.command == "account":
        return _account(settings, args)
    if args.command == "archive":
        from vidconsult.archive_cli import run_cli as run_archive

        return run_archive(args, settings)
    if args.command == "record":
        from vidconsult.external_recorder import run as run_recorder

        return run_recorder(args)
    return _serve(settings)


def _account(settings: Settings, args: argparse.Namespace) -> int:
    from vidconsult.account_admin import create_account
    from vidconsult.errors import VidconsultError

    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
    try:
        account, generated = create_account(
            settings.data_dir,
            args.username,
            args.role,
            password,
            args.name,
            secret=settings.load_secret(),
            unit_id=args.unit,
            phone=args.phone,
            settings=settings,
        )
    except (VidconsultError, ValueError) as exc:
        print(f"vidconsult: {exc}", file=sys.stderr)
        return 2
    print(f"created {account.role} account {account.username}")
    if generated:
        print(f"password (shown once): {generated}")
    return 0


def _token(settings: Settings, args: argparse.Namespace) -> int:
    try:
        signer = TokenSigner(settings.load_secret())
        print(
            signer.mint(
                identity=args.identity,
                role=Role(args.role),
                name=args.name,
                room=args.room,
                now=datetime.now(UTC),
                ttl=timedelta(seconds=args.ttl),
            )
        )
    except ValueError as exc:
        print(f"vidconsult: {exc}", file=sys.stderr)
        return 2
    return 0


def _import(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from vidconsult.importer import import_file

    path = Path(args.file)
    if not path.is_file():
        print(f"vidconsult: no such file {path}", file=sys.stderr)
        return 2
    parsed = asyncio.run(import_file(settings, path, args.kind, progress=not args.no_progress))
    if parsed.errors:
        for error in parsed.errors:
            print(f"{path}: {error}", file=sys.stderr)
        print(f"vidconsult: {len(parsed.errors)} bad row(s); nothing imported", file=sys.stderr)
        return 1
    print(f"imported {len(parsed.items)} {args.kind}")
    return 0


def _serve(settings: Settings) -> int:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from vidconsult.errors import VidconsultError
    from vidconsult.tls import TlsError
    from vidconsult.tls import prepare as prepare_tls

    try:  # a short secret, a bad certificate or key is refused before anything starts
        settings.load_secret()
        settings.turn_relay()  # a TURN secret file that cannot be read, or a short secret
        tls = prepare_tls(settings)
    except (TlsError, ValueError) as exc:
        print(f"vidconsult: {exc}", file=sys.stderr)
        return 2
    try:
        event_loop.run(_run(settings, tls), settings.event_loop)
    except KeyboardInterrupt:
        pass
    except VidconsultError as exc:  # refused at start (e.g. another server holds the archive)
        print(f"vidconsult: {exc.message}", file=sys.stderr)
        return 2
    return 0


async def _run(settings: Settings, tls: ServerTls | None) -> None:
    from vidconsult.app import ROOMS, run_server
    from vidconsult.notices import camera_warning, tls_notice

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with run_server(settings, tls=tls) as server:
        print(f"vidconsult listening on {server.url}", flush=True)
        if server.tls is not None:
            print(tls_notice(server.tls), flush=True)
        warning = camera_warning(server.url)
        if warning:
            print(warning, flush=True)
        if settings.demo:
            await _demo(server.app[ROOMS], server.url, server.port, settings)
        await stop.wait()
        print("vidconsult shutting down", flush=True)


async def _demo(rooms: Any, url: str, port: int, settings: Settings) -> None:
    from vidconsult.addresses import interface_addresses, is_wildcard, reachable_hosts
    from vidconsult.notices import demo_text, loopback_note

    name = "Demo consultation"
    room = await rooms.create_room(name)
    ttl = timedelta(seconds=settings.token_ttl)
    links = []
    for identity, role, display in (
        ("dr-li", Role.DOCTOR, "Dr. Li (county hospital)"),
        ("expert-chen", Role.EXPERT, "Prof. Chen (cardiology)"),
    ):
        token = rooms.issue_token(room, identity=identity, role=role, name=display, ttl=ttl)
        links.append((display, f"{url}/room/{room.id}#token={token}"))
    others: list[str] = []  # a wildcard listens on every address: the links name the first
    if not settings.public_url and is_wildcard(settings.host):
        hosts = reachable_hosts(settings.host, interface_addresses())
        others = [b for b in (settings.base_url(port, host=h) for h in hosts) if b != url]
    text = demo_text(
        room_id=room.id,
        room_name=name,
        links=links,
        other_bases=others,
        data_dir=settings.data_dir,
        valid_hours=settings.token_ttl / 3600,
    )
    note = loopback_note(settings.host)
    print(f"\n{text}\n" + (f"\n{note}\n" if note else ""), flush=True)


if __name__ == "__main__":
    sys.exit(main())
