#!/usr/bin/env bash
# Entry point of the Triton container in docker-compose.yml: renders the model repository
# (links the vendored ONNX files, points EXECUTION_ENV_PATH at a numpy<2 + onnxruntime + opencv
# venv and ALPR_SRC at the alpr/ and inference/ folders mounted under /alpr-src, which plate_read
# imports) and starts tritonserver with the same ports as infra/services.sh.
set -euo pipefail
ENV_DIR=/opt/triton-env
if ! "$ENV_DIR/bin/python" -c 'import numpy, onnxruntime, cv2, pyclipper, PIL' 2>/dev/null; then
  [ -x "$ENV_DIR/bin/python" ] || python3 -m venv "$ENV_DIR"
  "$ENV_DIR/bin/pip" install -q "${TRITON_ENV_NUMPY:-numpy<2}" "${TRITON_ENV_ONNXRUNTIME:-onnxruntime<1.21}" \
    "${TRITON_ENV_OPENCV:-opencv-python-headless<4.11}" "${TRITON_ENV_PYCLIPPER:-pyclipper}" "${TRITON_ENV_PILLOW:-Pillow}"
fi
REPO=/tmp/model_repository
rm -rf "$REPO"; cp -r /infra/triton/model_repository "$REPO"
ln -sf /models/ppocr/det.onnx "$REPO/plate_det/1/model.onnx"
ln -sf /models/ppocr/rec.onnx "$REPO/plate_rec/1/model.onnx"
sed -i -e "s#@TRITON_ENV@#$ENV_DIR#" -e "s#@ALPR_SRC@#/alpr-src#" "$REPO"/*/config.pbtxt
exec tritonserver --model-repository "$REPO" \
  --http-port "${TRITON_HTTP_PORT:-18110}" --grpc-port "${TRITON_GRPC_PORT:-18111}" \
  --metrics-port "${TRITON_METRICS_PORT:-18112}" --allow-metrics true
