"""pymobiledevice3 behind the IosAdapter interface: the only module that imports it.

pymobiledevice3's API is async; the adapter runs one event loop on its own thread and calls into it,
so the orchestrator's device threads stay synchronous. usbmuxd is found where pymobiledevice3 looks
(USBMUXD_SOCKET_ADDRESS: a unix socket path or HOST:PORT, else /var/run/usbmuxd).

Services used: usbmuxd (ListDevices), lockdown (values, pairing state, Developer Mode), installation
proxy (is the app installed), house_arrest + AFC (the app's container: Documents/...), DVT process
control (launch with arguments, kill) and device info (process list) through the developer disk image
(iOS < 17) or a tunneld tunnel (iOS 17+), and diagnostics (IORegistry IOPMPowerSource).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from collections.abc import Awaitable, Mapping

from devices.ios_adapter import IosAdapter
from errors import DeviceError

if TYPE_CHECKING:  # pymobiledevice3 ships its types (py.typed); imported for real only where a call needs it
    from pymobiledevice3.lockdown import LockdownClient
    from pymobiledevice3.remote.remote_service_discovery import RemoteServiceDiscoveryService
    from pymobiledevice3.services.house_arrest import HouseArrestService

T = TypeVar("T")
CALL_TIMEOUT_S = 60.0
TUNNELD_HINT = "start the tunnel daemon: sudo pymobiledevice3 remote tunneld"


def _usbmuxd_where() -> str:
    return os.environ.get("USBMUXD_SOCKET_ADDRESS") or "/var/run/usbmuxd"


def explain(exc: BaseException, udid: str, bundle_id: str) -> str:
    """One actionable line for each way pymobiledevice3 fails; unknown errors keep their own message."""
    from pymobiledevice3 import exceptions as x

    name = type(exc).__name__
    if isinstance(exc, x.ConnectionFailedToUsbmuxdError):
        return (f"no usbmuxd at {_usbmuxd_where()}: install and start usbmuxd (apt install usbmuxd) or set "
                "USBMUXD_SOCKET_ADDRESS")
    if isinstance(exc, x.DeviceNotFoundError) or isinstance(exc, x.NoDeviceConnectedError):
        return "not connected (usbmuxd does not list it): plug it in over USB and unlock it"
    if isinstance(exc, (x.PasswordRequiredError, x.PasscodeRequiredError)):
        return "locked: unlock it and keep it unlocked during the run"
    if isinstance(exc, (x.NotPairedError, x.NotTrustedError, x.PairingError, x.InvalidHostIDError)):
        return "not paired with this host: unlock it, run `pymobiledevice3 lockdown pair` and tap Trust"
    if isinstance(exc, (x.DeveloperModeIsNotEnabledError, x.DeveloperModeError)):
        return "Developer Mode is off: Settings > Privacy & Security > Developer Mode, then restart"
    if isinstance(exc, (x.DeveloperDiskImageNotFoundError, x.NotMountedError)):
        return "the developer disk image is not mounted: run `pymobiledevice3 mounter auto-mount`"
    if isinstance(exc, x.TunneldConnectionError):
        return f"iOS 17+ needs a tunnel for developer services and tunneld is not running: {TUNNELD_HINT}"
    if isinstance(exc, x.AppNotInstalledError):
        return (f"companion app {bundle_id} is not installed: "
                "build ios_app/ with Xcode and install it (ios_app/README.md)")
    if isinstance(exc, x.ConnectionFailedError):
        return "usbmuxd could not connect to it (unplugged, or lockdownd refused): reconnect the cable and unlock it"
    if isinstance(exc, (FutureTimeout, TimeoutError, asyncio.TimeoutError)):
        return "did not answer in time"
    text = " ".join(str(exc).split())[:300]
    return f"{name}: {text}" if text else name


class PyMobileDeviceAdapter(IosAdapter):
    """One phone through pymobiledevice3; connections are opened lazily and reused."""

    def __init__(self, udid: str, bundle_id: str, usbmux_address: str | None = None) -> None:
        super().__init__(udid, bundle_id)
        self.usbmux_address = usbmux_address
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"pmd3-{udid[:8]}", daemon=True)
        self._thread.start()
        self._lockdown: LockdownClient | None = None
        # the lockdown client (iOS < 17) or a tunneld RSD (iOS 17+)
        self._dvt_provider: LockdownClient | RemoteServiceDiscoveryService | None = None
        self._afc: HouseArrestService | None = None

    # -- plumbing -------------------------------------------------------------------------------
    def _call(self, coro: Awaitable[T], timeout_s: float = CALL_TIMEOUT_S) -> T:
        fut: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)  # type: ignore[arg-type]
        try:
            return fut.result(timeout_s)
        except DeviceError:
            raise
        except BaseException as exc:  # pymobiledevice3 raises many types: one line each
            fut.cancel()
            raise DeviceError(self.udid, explain(exc, self.udid, self.bundle_id)) from None

    async def _connect(self) -> LockdownClient:
        from pymobiledevice3 import usbmux
        from pymobiledevice3.lockdown import create_using_usbmux

        if self._lockdown is None:
            devices = await usbmux.list_devices(usbmux_address=self.usbmux_address)
            if not any(d.matches_udid(self.udid) for d in devices):
                seen = ", ".join(d.serial for d in devices[:5]) or "none"
                raise DeviceError(self.udid, f"not connected (usbmuxd lists: {seen}): plug it in over USB and "
                                  "unlock it")
            lockdown = await create_using_usbmux(serial=self.udid, autopair=False, usbmux_address=self.usbmux_address)
            if not lockdown.paired:
                await lockdown.close()
                raise DeviceError(self.udid, "not paired with this host: unlock it, run "
                                  "`pymobiledevice3 lockdown pair` and tap Trust")
            self._lockdown = lockdown
        return self._lockdown

    async def _developer_provider(self) -> LockdownClient | RemoteServiceDiscoveryService:
        """What DVT services start from: a tunneld RSD on iOS 17+, else lockdown with the DDI mounted."""
        from packaging.version import Version

        lockdown = await self._connect()
        if self._dvt_provider is not None:
            return self._dvt_provider
        if not await lockdown.get_developer_mode_status():
            raise DeviceError(self.udid, "Developer Mode is off: Settings > Privacy & Security > "
                              "Developer Mode, then restart")
        if Version(lockdown.product_version) >= Version("17.0"):
            from pymobiledevice3.tunneld.api import get_tunneld_device_by_udid

            try:
                rsd = await get_tunneld_device_by_udid(self.udid)
            except Exception:
                rsd = None
            if rsd is None:
                raise DeviceError(self.udid, f"iOS {lockdown.product_version} needs a tunnel for developer services "
                                  f"and tunneld serves none for this phone: {TUNNELD_HINT}")
            self._dvt_provider = rsd
        else:
            from pymobiledevice3.services.mobile_image_mounter import MobileImageMounterService

            async with MobileImageMounterService(lockdown) as mounter:
                if not await mounter.is_image_mounted("Developer"):
                    raise DeviceError(self.udid, "the developer disk image is not mounted: run "
                                      "`pymobiledevice3 mounter auto-mount`")
            self._dvt_provider = lockdown
        return self._dvt_provider

    async def _container(self) -> HouseArrestService:
        from pymobiledevice3.services.house_arrest import HouseArrestService

        if self._afc is None:
            self._afc = await HouseArrestService.create(await self._connect(), self.bundle_id, documents_only=False)
        return self._afc

    @staticmethod
    def _docs(remote: str) -> str:
        remote = remote.lstrip("/")
        if ".." in remote.split("/"):
            raise ValueError(f"remote path {remote[:100]!r} leaves Documents")
        return f"Documents/{remote}"

    # -- the interface --------------------------------------------------------------------------
    def check_ready(self) -> dict[str, object]:
        async def go() -> dict[str, object]:
            lockdown = await self._connect()
            values = lockdown.all_values
            await self._developer_provider()
            return {"product_type": values.get("ProductType"), "ios_version": values.get("ProductVersion"),
                    "name": values.get("DeviceName"), "model": values.get("HardwareModel"),
                    "cpu": values.get("CPUArchitecture"), "os": f"iOS {values.get('ProductVersion')}",
                    "board": values.get("ProductType")}

        return self._call(go())

    def app_installed(self) -> bool:
        async def go() -> bool:
            from pymobiledevice3.services.installation_proxy import InstallationProxyService

            async with InstallationProxyService(await self._connect()) as proxy:
                apps = await proxy.get_apps(bundle_identifiers=[self.bundle_id])
            return self.bundle_id in apps

        return self._call(go())

    def push(self, local: Path, remote: str) -> None:
        async def go() -> None:
            afc = await self._container()
            target = self._docs(remote)
            await afc.makedirs(target.rsplit("/", 1)[0])
            if Path(local).is_dir():  # AFC's push copies a folder into remote/<basename>
                await afc.push(str(local), target.rsplit("/", 1)[0], progress_bar=False)
            else:
                await afc.set_file_contents(target, Path(local).read_bytes())

        self._call(go(), timeout_s=600)

    def size(self, remote: str) -> int | None:
        async def go() -> int | None:
            afc = await self._container()
            path = self._docs(remote)
            if not await afc.exists(path):
                return None
            return int((await afc.stat(path)).get("st_size", 0))

        return self._call(go())

    def pull(self, remote: str, local: Path) -> None:
        async def go() -> bytes:
            afc = await self._container()
            path = self._docs(remote)
            if not await afc.exists(path):
                raise FileNotFoundError(remote)
            data: bytes = await afc.get_file_contents(path)
            return data

        try:
            data = self._call(go(), timeout_s=300)
        except DeviceError as exc:
            if "FileNotFoundError" in str(exc):
                raise FileNotFoundError(remote) from None
            raise
        Path(local).write_bytes(data)

    def remove(self, remote: str) -> None:
        async def go() -> None:
            afc = await self._container()
            path = self._docs(remote)
            if await afc.exists(path):
                await afc.rm(path, force=True)

        self._call(go())

    def launch(self, arguments: list[str]) -> int:
        async def go() -> int:
            from pymobiledevice3.services.dvt.instruments.dvt_provider import DvtProvider
            from pymobiledevice3.services.dvt.instruments.process_control import ProcessControl

            async with DvtProvider(await self._developer_provider()) as dvt, ProcessControl(dvt) as pc:
                return int(await pc.launch(self.bundle_id, arguments=list(arguments), kill_existing=True))

        return self._call(go())

    def running(self, pid: int) -> bool | None:
        async def go() -> bool:
            from pymobiledevice3.services.dvt.instruments.device_info import DeviceInfo
            from pymobiledevice3.services.dvt.instruments.dvt_provider import DvtProvider

            async with DvtProvider(await self._developer_provider()) as dvt, DeviceInfo(dvt) as info:
                return any(int(p.get("pid", -1)) == pid for p in await info.proclist())

        try:
            return self._call(go())
        except DeviceError:
            return None

    def kill(self, pid: int) -> None:
        async def go() -> None:
            from pymobiledevice3.services.dvt.instruments.dvt_provider import DvtProvider
            from pymobiledevice3.services.dvt.instruments.process_control import ProcessControl

            async with DvtProvider(await self._developer_provider()) as dvt, ProcessControl(dvt) as pc:
                await pc.kill(pid)

        self._call(go())

    def power_source(self) -> Mapping[str, object] | None:
        async def go() -> Mapping[str, object] | None:
            from pymobiledevice3.services.diagnostics import DiagnosticsService

            async with DiagnosticsService(await self._connect()) as diag:
                found: object = await diag.ioregistry(ioclass="IOPMPowerSource")
                return found if isinstance(found, Mapping) else None

        return self._call(go())

    def list_udids(self) -> list[str]:
        """Every phone usbmuxd lists (`harness devices` uses it to suggest a udid)."""
        from pymobiledevice3 import usbmux

        async def go() -> list[str]:
            return [d.serial for d in await usbmux.list_devices(usbmux_address=self.usbmux_address)]

        return self._call(go())

    def close(self) -> None:
        async def go() -> None:
            for conn in (self._afc, self._lockdown):
                if conn is not None:
                    try:
                        await conn.close()
                    except Exception:
                        pass

        try:
            self._call(go(), timeout_s=10)
        except DeviceError:
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
