"""An MLServer runtime serving ONNX models with onnxruntime.

MLServer has no ONNX runtime of its own, so this module runs inside the model
server: :func:`cubelab_hub.serving.serving_command` copies it into a replica's
settings folder, which MLServer puts on ``sys.path`` while it loads the model.
It imports only MLServer, onnxruntime and NumPy (the serving virtualenv's
packages), never the platform.

Request inputs are matched to the model's inputs by name, else by position, and
cast to the type the model declares; every tensor output is returned (non-tensor
outputs, such as the probability maps of converted classifiers, are left out).
"""

import numpy as np
import onnxruntime
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.errors import InferenceError
from mlserver.types import InferenceRequest, InferenceResponse
from mlserver.utils import get_model_uri

WELLKNOWN_MODEL_FILENAMES = ["model.onnx"]

# onnxruntime's type names -> NumPy types
_TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int16)": np.int16,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
    "tensor(string)": np.object_,
}


class OnnxModel(MLModel):
    async def load(self) -> bool:
        uri = await get_model_uri(self._settings, wellknown_filenames=WELLKNOWN_MODEL_FILENAMES)
        self._session = onnxruntime.InferenceSession(uri, providers=["CPUExecutionProvider"])
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        declared = self._session.get_inputs()
        by_name = {item.name: item for item in declared}
        if len(payload.inputs) != len(declared):
            names = ", ".join(item.name for item in declared)
            raise InferenceError(f"the model takes {len(declared)} input(s) ({names}), the request has {len(payload.inputs)}")
        feeds = {}
        for index, request_input in enumerate(payload.inputs):
            target = by_name.get(request_input.name, declared[index])
            array = NumpyCodec.decode_input(request_input)
            feeds[target.name] = array.astype(_TYPES.get(target.type, array.dtype), copy=False)
        names = [item.name for item in self._session.get_outputs()]
        results = self._session.run(names, feeds)
        outputs = [NumpyCodec.encode_output(name, value) for name, value in zip(names, results, strict=True) if isinstance(value, np.ndarray)]
        return InferenceResponse(model_name=self.name, model_version=self.version, outputs=outputs)
