"""SshTransport against a real OpenSSH server on 127.0.0.1: commands, quoting, files, host keys, auth."""
from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from devices.ssh import AuthError, HostKeyError, SshTransport, configure_dead_link
from devices.transport import TransportError, file_sha256


def transport(board, **over) -> SshTransport:
    kw = dict(port=board.port, device="loopback", key_file=str(board.client_key), known_hosts=str(board.known_hosts),
              connect_timeout_s=3, reconnect_attempts=2, backoff_s=0.2)
    kw.update(over)
    return SshTransport(board.address, board.user, **kw)


@pytest.fixture
def ssh(sshd_board):
    t = transport(sshd_board)
    yield t
    t.close()


def test_run_returns_exit_code_stdout_stderr_and_feeds_stdin(ssh):
    res = ssh.run(["sh", "-c", 'read x; echo "got $x"; echo oops >&2; exit 7'], timeout_s=20, stdin="hello\n")
    assert (res.exit_code, res.stdout, res.stderr) == (7, "got hello\n", "oops\n")
    assert ssh.run(["true"], timeout_s=20).ok


def test_every_argument_is_quoted(ssh, tmp_path):
    marker = tmp_path / "PWNED"
    nasty = ["a b", "$(touch " + str(marker) + ")", "`touch " + str(marker) + "`", "'q'", '"dq"', "; rm -rf x",
             "*", "~", "$HOME", "new\nline", ""]
    res = ssh.run(["printf", "%s\\0", *nasty], timeout_s=20)
    assert res.ok
    assert res.stdout.split("\0")[:-1] == nasty
    assert not marker.exists()


def test_large_stdin_and_stdout_do_not_deadlock(ssh):
    data = "x" * 3_000_000
    res = ssh.run(["cat"], timeout_s=60, stdin=data)
    assert res.ok and len(res.stdout) == len(data)


def test_timeout_raises_within_the_limit(ssh):
    t0 = time.monotonic()
    with pytest.raises(TransportError, match="timed out after 1 s"):
        ssh.run(["sleep", "30"], timeout_s=1)
    assert time.monotonic() - t0 < 5
    assert ssh.run(["echo", "still usable"], timeout_s=20).stdout == "still usable\n"


def test_push_is_atomic_verified_and_skipped_when_unchanged(ssh, sshd_board, tmp_path):
    src = tmp_path / "model.bin"
    src.write_bytes(bytes(range(256)) * 5000)
    remote = str(sshd_board.root / "work" / "files" / "sub dir" / "model.bin")
    assert ssh.push_if_changed(src, remote) is True
    assert Path(remote).read_bytes() == src.read_bytes()
    assert ssh.remote_sha256(remote) == file_sha256(src)
    assert ssh.push_if_changed(src, remote) is False
    src.write_bytes(b"changed")
    assert ssh.push_if_changed(src, remote) is True
    assert Path(remote).read_bytes() == b"changed"
    assert not list(Path(remote).parent.glob("*.part.*"))
    back = tmp_path / "back.bin"
    ssh.pull(remote, back)
    assert back.read_bytes() == b"changed"
    ssh.remove(remote)
    assert not Path(remote).exists()
    ssh.remove(remote)  # missing is fine
    with pytest.raises(FileNotFoundError):
        ssh.pull(remote, back)


def test_tilde_is_expanded_on_the_board(ssh):
    home = ssh.run(["sh", "-c", 'printf %s "$HOME"'], timeout_s=20).stdout
    assert ssh.expand("~/harness") == f"{home}/harness"
    assert ssh.expand("/abs/path") == "/abs/path"


def test_socket_is_set_to_notice_a_dead_link(ssh):
    ssh.run(["true"], timeout_s=20)
    sock = ssh.connected_socket()
    assert sock is not None
    user_timeout = sock.getsockopt(socket.IPPROTO_TCP, getattr(socket, "TCP_USER_TIMEOUT", 18))
    assert 1000 <= user_timeout <= 10_000
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) <= 5
    with socket.socket() as s:
        opts = configure_dead_link(s, 4)
        assert opts["TCP_KEEPIDLE"] + opts["TCP_USER_TIMEOUT"] / 1000 <= 4


def test_reconnects_after_the_connection_drops(ssh):
    ssh.run(["true"], timeout_s=20)
    before = ssh.connects
    ssh.connected_socket().shutdown(socket.SHUT_RDWR)
    time.sleep(0.2)
    assert ssh.run(["echo", "back"], timeout_s=20).stdout == "back\n"
    assert ssh.connects == before + 1


def test_stream_collects_lines_until_stopped_and_kills_the_command(ssh, sshd_board):
    marker = sshd_board.root / "streamer-alive"
    stream = ssh.stream(["sh", "-c", f'i=0; while :; do echo "line $i"; i=$((i+1)); touch {marker}; sleep 0.1; done'])
    deadline = time.monotonic() + 15
    while len(stream.lines) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = stream.stop()
    assert len(lines) >= 4
    assert [text for _, text in lines[:3]] == ["line 0", "line 1", "line 2"]
    assert all(b[0] >= a[0] for a, b in zip(lines, lines[1:]))
    time.sleep(0.5)
    stamp = marker.stat().st_mtime
    time.sleep(0.5)
    assert marker.stat().st_mtime == stamp, "the streamed command still runs after stop()"


# ---- host keys ------------------------------------------------------------------------------

def test_mismatched_host_key_is_refused_with_a_clear_message(sshd_board, tmp_path):
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[{sshd_board.address}]:{sshd_board.port} {Path(f'{other}.pub').read_text()}")
    t = transport(sshd_board, known_hosts=str(kh))
    t0 = time.monotonic()
    with pytest.raises(HostKeyError) as err:
        t.run(["true"], timeout_s=20)
    msg = str(err.value)
    assert "HOST KEY MISMATCH" in msg and str(kh) in msg and "SHA256:" in msg and "ssh-keygen -R" in msg
    assert t.connects == 0 and time.monotonic() - t0 < 3, "a key mismatch must not be retried"


def test_unknown_host_key_is_refused_by_default(sshd_board, tmp_path):
    kh = tmp_path / "known_hosts"
    kh.write_text("")
    with pytest.raises(HostKeyError, match="is not in .*refusing to connect.*accept_unknown_host_key"):
        transport(sshd_board, known_hosts=str(kh)).run(["true"], timeout_s=20)
    with pytest.raises(HostKeyError, match="does not exist"):
        transport(sshd_board, known_hosts=str(tmp_path / "missing")).run(["true"], timeout_s=20)


def test_accepting_an_unknown_key_is_explicit_and_recorded(sshd_board, tmp_path):
    kh = tmp_path / "new" / "known_hosts"
    t = transport(sshd_board, known_hosts=str(kh), accept_unknown_host_key=True)
    assert t.run(["true"], timeout_s=20).ok
    t.close()
    recorded = kh.read_text().split()
    assert recorded[0] == f"[{sshd_board.address}]:{sshd_board.port}"
    assert recorded[1:] == sshd_board.host_line.split()[1:]
    strict = transport(sshd_board, known_hosts=str(kh))
    assert strict.run(["true"], timeout_s=20).ok
    strict.close()


def test_hashed_known_hosts_entries_are_understood(sshd_board, tmp_path):
    kh = tmp_path / "known_hosts"
    kh.write_text(sshd_board.host_line + "\n")
    subprocess.run(["ssh-keygen", "-H", "-f", str(kh)], check=True, capture_output=True)
    assert kh.read_text().startswith("|1|")
    t = transport(sshd_board, known_hosts=str(kh))
    assert t.run(["true"], timeout_s=20).ok
    t.close()


# ---- authentication -------------------------------------------------------------------------

def test_wrong_key_fails_once_with_a_clear_message(sshd_board, tmp_path):
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    t = transport(sshd_board, key_file=str(stranger))
    with pytest.raises(AuthError, match="authentication as .* failed"):
        t.run(["true"], timeout_s=20)
    with pytest.raises(AuthError, match="no such file"):
        transport(sshd_board, key_file=str(tmp_path / "nope")).run(["true"], timeout_s=20)


def test_password_comes_only_from_the_environment_and_is_never_shown(sshd_board, tmp_path, monkeypatch, caplog):
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    monkeypatch.delenv("HARNESS_TEST_PW", raising=False)
    with pytest.raises(AuthError, match=r"\$HARNESS_TEST_PW, which is not set"):
        transport(sshd_board, key_file=str(stranger), password_env="HARNESS_TEST_PW").run(["true"], timeout_s=20)
    secret = "s3cret-" + "x" * 8
    monkeypatch.setenv("HARNESS_TEST_PW", secret)
    caplog.set_level("DEBUG")
    t = transport(sshd_board, key_file=str(stranger), password_env="HARNESS_TEST_PW")
    with pytest.raises(AuthError) as err:
        t.run(["true"], timeout_s=20)
    assert "password from $HARNESS_TEST_PW" in str(err.value)
    assert secret not in str(err.value) and secret not in caplog.text
    assert secret not in repr(vars(t))


def test_unreachable_board_fails_after_back_off(tmp_path):
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    free = port.getsockname()[1]
    port.close()
    kh = tmp_path / "known_hosts"
    kh.write_text("")
    t = SshTransport("127.0.0.1", "nobody", port=free, known_hosts=str(kh), reconnect_attempts=3, backoff_s=0.2,
                     connect_timeout_s=1)
    t0 = time.monotonic()
    with pytest.raises(TransportError, match="cannot reach .* after 3 attempts"):
        t.run(["true"], timeout_s=5)
    assert 0.55 < time.monotonic() - t0 < 5  # waited 0.2 + 0.4 between attempts
