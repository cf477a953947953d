"""Triton python-backend model ``plate_read``: encoded frames -> plates (see config.pbtxt).

The repository named by the ALPR_SRC parameter is imported under the project's namespace
(``alpr/`` as ``alpr``, ``inference/`` as ``alpr.inference``, as setup.py maps them), so the
server runs the very code of the in-process path: ``alpr.inference.frame_reads.read_frames``
with a ``PlateRecognizer`` on ONNX Runtime. Requests that arrive together (dynamic batching) and
ask for the same recogniser settings are read as one batch. PROVIDERS (config.pbtxt, default
``CPUExecutionProvider``) lists ONNX Runtime's execution providers, e.g.
``CUDAExecutionProvider,CPUExecutionProvider`` with onnxruntime-gpu on a GPU server. A frame that does not decode is a
per-frame answer (``{"error": ...}``); only a failure of the recogniser itself fails the
requests it was reading.
"""

import importlib.util
import json
import os
import sys

import numpy as np
import triton_python_backend_utils as pb_utils

MAPPED = (("alpr", "alpr"), ("alpr.inference", "inference"))


def _import_alpr(src):
    """Import ``alpr`` and ``alpr.inference`` from the folders of a checkout (no install)."""
    for name, folder in MAPPED:
        if name in sys.modules:
            continue
        path = os.path.join(src, folder)
        spec = importlib.util.spec_from_file_location(name, os.path.join(path, "__init__.py"),
                                                      submodule_search_locations=[path])
        if spec is None or spec.loader is None:
            raise pb_utils.TritonModelException(f"plate_read: cannot import {name} from {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        if "." in name:
            parent, _, child = name.rpartition(".")
            setattr(sys.modules[parent], child, module)


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        params = {k: v.get("string_value", "") for k, v in config.get("parameters", {}).items()}
        src = params.get("ALPR_SRC", "")
        if not src or not os.path.isfile(os.path.join(src, "inference", "recognizer.py")):
            raise pb_utils.TritonModelException(f"plate_read: ALPR_SRC {src!r} is not an alpr-stream checkout")
        _import_alpr(src)
        from alpr.inference.backends import OnnxBackend
        from alpr.inference.frame_reads import INPUT, OUTPUT, read_frames

        self.input_name, self.output_name, self.read_frames = INPUT, OUTPUT, read_frames
        providers = [p.strip() for p in params.get("PROVIDERS", "CPUExecutionProvider").split(",") if p.strip()]
        self.backend = OnnxBackend(intra_op_threads=max(1, int(params.get("INTRA_OP_THREADS", "1"))),
                                   providers=providers)
        self.recognizers = {}

    def _recognizer(self, key):
        if key not in self.recognizers:
            from alpr.inference.recognizer import PlateRecognizer

            topn, country, state, fine = key
            extra = {} if fine is None else {"fine_long_side": fine}
            self.recognizers[key] = PlateRecognizer(self.backend, topn=topn, country=country, state=state or None,
                                                    **extra)
        return self.recognizers[key]

    @staticmethod
    def _settings(request):
        try:
            p = json.loads(request.parameters() or "{}")
        except (AttributeError, ValueError):
            p = {}
        fine = p.get("fine_long_side")
        return (int(p.get("topn", 10)), str(p.get("country", "auto")), str(p.get("state", "")),
                None if fine is None else int(fine))

    def execute(self, requests):
        frames, results, groups = [], [None] * len(requests), {}
        for i, request in enumerate(requests):
            tensor = pb_utils.get_input_tensor_by_name(request, self.input_name)
            if tensor is None:
                frames.append([])
                results[i] = pb_utils.TritonError(f"plate_read: missing input {self.input_name!r}")
                continue
            frames.append([bytes(b) for b in tensor.as_numpy().reshape(-1)])
            try:
                groups.setdefault(self._settings(request), []).append(i)
            except (TypeError, ValueError) as exc:
                results[i] = pb_utils.TritonError(f"plate_read: bad request parameters: {exc}")
        for key, idxs in groups.items():
            try:
                docs = self.read_frames(self._recognizer(key), [f for i in idxs for f in frames[i]])
                start = 0
                for i in idxs:
                    n = len(frames[i])
                    results[i] = np.array([d.encode() for d in docs[start:start + n]], dtype=np.object_).reshape(n, 1)
                    start += n
            except Exception as exc:  # noqa: BLE001 - report per request, keep serving
                for i in idxs:
                    results[i] = pb_utils.TritonError(f"plate_read: recogniser failed: {type(exc).__name__}: {exc}")
        responses = []
        for res in results:
            if isinstance(res, pb_utils.TritonError):
                responses.append(pb_utils.InferenceResponse(output_tensors=[], error=res))
            else:
                responses.append(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(self.output_name, res)]))
        return responses

    def finalize(self):
        self.recognizers, self.backend = {}, None
