# attest_load (bench/attest_load.cc): the gRPC load / race client of
# tests/integration/scale_out and scripts/bench_scale_out.sh. It needs no
# Google Benchmark, so tests/integration includes this file too; the first
# include defines the target, always as <build>/bench/attest_load.
if(NOT TARGET attest_load)
  add_executable(attest_load ${CMAKE_CURRENT_LIST_DIR}/attest_load.cc)
  # rp::policy: rp::sim uses ReadSmallFile but does not link it (yet).
  target_link_libraries(attest_load PRIVATE rp::sim rp::policy rp::jwe rp::testing_builders
                        rp::core rp::crypto rp::proto gRPC::grpc++ nlohmann_json::nlohmann_json
                        absl::strings absl::time)
  set_target_properties(attest_load PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bench)
  rp_warnings(attest_load)
endif()

# grpc_floor (bench/grpc_floor.cc): an AttestationService that does no
# attestation work, on the real server's gRPC set-up: the transport floor
# that scripts/bench_e2e.sh measures beside each scenario.
if(NOT TARGET grpc_floor AND TARGET rp_server_lib)
  add_executable(grpc_floor ${CMAKE_CURRENT_LIST_DIR}/grpc_floor.cc)
  target_link_libraries(grpc_floor PRIVATE rp_server_lib rp::crypto rp::proto gRPC::grpc++
                        absl::strings)
  set_target_properties(grpc_floor PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bench)
  rp_warnings(grpc_floor)
endif()
