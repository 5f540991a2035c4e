"""Attachment bytes on the local disk, content-addressed: ``{root}/ab/abcdef…`` (the sha256).

Uploads stream into ``{root}/tmp`` and are renamed into place only once complete and accepted,
so a refused or interrupted upload leaves nothing behind. No path ever comes from a user."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import AsyncIterable, Callable
from pathlib import Path
from typing import BinaryIO

from vidconsult.errors import InvalidInput, NotFound, TooLarge
from vidconsult.store.base_records import StoredBlob

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
FLUSH_BYTES = 1024 * 1024


class FileBlobStore:
    def __init__(self, root: Path) -> None:
        self._root = root

    def path(self, sha256: str) -> Path:
        if not _SHA256_RE.match(sha256):
            raise NotFound("no such file")
        path = self._root / sha256[:2] / sha256
        if not path.is_file():
            raise NotFound("the file of this attachment is missing")
        return path

    async def put(
        self,
        chunks: AsyncIterable[bytes],
        *,
        max_bytes: int,
        check_head: Callable[[bytes], None],
        head_bytes: int,
    ) -> StoredBlob:
        tmp_dir = self._root / "tmp"
        await asyncio.to_thread(tmp_dir.mkdir, parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-")
        tmp = Path(name)
        fh = os.fdopen(fd, "wb")
        digest = hashlib.sha256()
        size = 0
        head = b""
        pending: list[bytes] = []
        pending_size = 0
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"attachment exceeds the {max_bytes}-byte limit")
                if len(head) < head_bytes:
                    head += chunk[: head_bytes - len(head)]
                    if len(head) >= head_bytes:
                        check_head(head)
                pending.append(chunk)
                pending_size += len(chunk)
                if pending_size >= FLUSH_BYTES:
                    await asyncio.to_thread(_write, fh, digest, pending)
                    pending, pending_size = [], 0
            if size == 0:
                raise InvalidInput("attachment is empty")
            if len(head) < head_bytes:
                check_head(head)
            await asyncio.to_thread(_write, fh, digest, pending)
            sha = digest.hexdigest()
            await asyncio.to_thread(self._commit, fh, tmp, sha)
            return StoredBlob(sha256=sha, size_bytes=size)
        except BaseException:
            fh.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)  # (quick; no thread hop while being cancelled)
            raise

    def _commit(self, fh: BinaryIO, tmp: Path, sha: str) -> None:
        fh.flush()
        os.fsync(fh.fileno())
        fh.close()
        final = self._root / sha[:2] / sha
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():  # the same bytes were uploaded before
            tmp.unlink()
        else:
            os.chmod(tmp, 0o440)
            os.replace(tmp, final)


def _write(fh: BinaryIO, digest: hashlib._Hash, chunks: list[bytes]) -> None:
    for chunk in chunks:
        digest.update(chunk)
        fh.write(chunk)
