"""Triton python-backend model: runs this version directory's ``model.onnx`` with onnxruntime.

Shared by plate_det and plate_rec (plate_rec/1/model.py is the same file). Requests that arrive
together (dynamic batching) are concatenated per input shape and run as one onnxruntime call,
then split back per request. Parameters (config.pbtxt): INTRA_OP_THREADS (default 1),
ONNX_FILE (default model.onnx).
"""

import json
import os

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        import onnxruntime as ort

        config = json.loads(args["model_config"])
        params = {k: v.get("string_value", "") for k, v in config.get("parameters", {}).items()}
        self.input_name = config["input"][0]["name"]
        self.output_name = config["output"][0]["name"]
        path = os.path.join(args["model_repository"], args["model_version"], params.get("ONNX_FILE", "model.onnx"))
        if not os.path.isfile(path):
            raise pb_utils.TritonModelException(f"{config['name']}: ONNX file not found: {path}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, int(params.get("INTRA_OP_THREADS", "1")))
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        onnx_in = [i.name for i in self.session.get_inputs()]
        onnx_out = [o.name for o in self.session.get_outputs()]
        if self.input_name not in onnx_in or self.output_name not in onnx_out:
            raise pb_utils.TritonModelException(
                f"{config['name']}: config tensors {self.input_name}->{self.output_name} do not match "
                f"the ONNX file ({onnx_in} -> {onnx_out})")
        self.name = config["name"]

    def execute(self, requests):
        arrays = []
        for request in requests:
            tensor = pb_utils.get_input_tensor_by_name(request, self.input_name)
            arrays.append(None if tensor is None else np.ascontiguousarray(tensor.as_numpy(), dtype=np.float32))
        results = [None] * len(requests)
        groups = {}
        for i, arr in enumerate(arrays):
            if arr is None:
                results[i] = pb_utils.TritonError(f"{self.name}: missing input {self.input_name!r}")
            else:
                groups.setdefault(arr.shape[1:], []).append(i)
        for idxs in groups.values():
            try:
                batch = np.concatenate([arrays[i] for i in idxs], axis=0) if len(idxs) > 1 else arrays[idxs[0]]
                out = self.session.run([self.output_name], {self.input_name: batch})[0]
                start = 0
                for i in idxs:
                    n = arrays[i].shape[0]
                    results[i] = out[start:start + n]
                    start += n
            except Exception as exc:  # noqa: BLE001 - report per request, keep serving
                for i in idxs:
                    results[i] = pb_utils.TritonError(f"{self.name}: onnxruntime failed: {exc}")
        responses = []
        for res in results:
            if isinstance(res, pb_utils.TritonError):
                responses.append(pb_utils.InferenceResponse(output_tensors=[], error=res))
            else:
                responses.append(pb_utils.InferenceResponse(
                    output_tensors=[pb_utils.Tensor(self.output_name, np.ascontiguousarray(res))]))
        return responses

    def finalize(self):
        self.session = None
