/**
 * Entry point of the protoc plugin run by `buf generate` (see buf.gen.yaml):
 * reads a CodeGeneratorRequest on stdin and writes gen/sandbox/.
 */
import { runNodeJs } from "@bufbuild/protoplugin";
import { sandboxPlugin } from "./sandbox-plugin.js";

runNodeJs(sandboxPlugin);
