"""``lossviz download``: Fashion-MNIST's four files, resumable and checked, into the cache or --into."""

from __future__ import annotations

import argparse
import sys

from lossviz import checks
from lossviz.cli.shell import UsageError, file_errors, out_path


def add_parser(sub) -> None:
    # (the defaults in the help are lossviz.download's: MIRRORS, and the function's attempts and timeout)
    p = sub.add_parser("download", help="download Fashion-MNIST (resumable, checked against the published MD5s)",
                       description="Download the four Fashion-MNIST files into DIR/FashionMNIST/raw/, where lossviz "
                       "finds them. A broken connection resumes from the byte it reached (HTTP Range), a failure is "
                       "retried with backoff and then the next mirror is tried; a file is put in place only whole "
                       "and matching its published MD5. Files already there with the right MD5 are kept.")
    p.add_argument("--into", metavar="DIR", help="download folder; the files go to DIR/FashionMNIST/raw/ (default: the "
                   "lossviz cache, $XDG_CACHE_HOME/lossviz or ~/.cache/lossviz, searched by every command)")
    p.add_argument("--mirror", action="append", metavar="URL", help="a mirror's base URL, the file names appended to it; "
                   "repeatable, tried in the order given (default: $LOSSVIZ_MIRRORS, whitespace-separated, else "
                   "torchvision's mirror http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/)")
    p.add_argument("--attempts", type=int, default=5, metavar="N", help="tries in a row at one mirror that bring no "
                   "new byte before the next mirror is tried; waits 1, 2, 4 ... s (at most 30 s) between them "
                   "(default: 5)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                   help="for connecting and for each read (default: 30)")
    p.set_defaults(func=cmd_download)


@file_errors
def cmd_download(args: argparse.Namespace) -> int:
    from lossviz import download
    from lossviz.files import cache_dir

    into = out_path(args.into, "--into")
    attempts = checks.integer(args.attempts, "--attempts", 1, 100)
    timeout = checks.number(args.timeout, "--timeout", 0, 3600, low_open=True)
    mirrors = download.check_mirrors(args.mirror) if args.mirror else None  # (a bad URL: one line, before any folder)
    try:
        paths = download.download_fashion_mnist(into, mirrors=mirrors, attempts=attempts, timeout=timeout,
                                                log=lambda line: print(f"lossviz: {line}", file=sys.stderr))
    except download.DownloadError as e:
        raise UsageError(str(e)) from None
    folder = paths[0].parent
    if into is None or into.resolve() == cache_dir().resolve():
        print(f"Fashion-MNIST in {folder} (MD5s checked); every lossviz command finds it there")
    else:
        print(f"Fashion-MNIST in {folder} (MD5s checked); use it with --data-root {into}")
    return 0
