"""The companion apps' evaluation outputs: raw little-endian float32 written on the phone, pulled here and
shaped as the app said. One reader for Android and iOS, so both apps' numbers are scored the same way."""
from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


def pull_outputs(pull: Callable[[str, Path], object], remove: Callable[[str], object], remote: str,
                 shape: Sequence[int]) -> npt.NDArray[np.float32]:
    """Pull `remote`, remove it from the phone, and return it as an array of `shape`; ValueError when the
    app wrote a different number of values than the shape holds."""
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "outputs.f32"
        pull(remote, local)
        data = np.frombuffer(local.read_bytes(), dtype="<f4")
    remove(remote)
    if data.size != int(np.prod([int(d) for d in shape])):
        raise ValueError(f"the app wrote {data.size} output values for shape {list(shape)}")
    return data.reshape([int(d) for d in shape])
