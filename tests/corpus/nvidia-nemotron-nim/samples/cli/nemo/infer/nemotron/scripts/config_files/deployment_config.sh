#!/bin/bash
registryname="registryname"
