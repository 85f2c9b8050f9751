// rlhfkit's MPI binding: the few MPI_COMM_WORLD collectives data-parallel training needs, over typed arrays, as a Node-API addon.
// The C API only: mpi.h would otherwise pull in the deprecated C++ bindings (and their library) under a C++ compiler.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#include <node_api.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace {

napi_value throw_error(napi_env env, const std::string& msg) {
  napi_throw_error(env, nullptr, msg.c_str());
  return nullptr;
}

#define CHECK_NAPI(call)                                          \
  do {                                                            \
    if ((call) != napi_ok) return throw_error(env, "napi: " #call); \
  } while (0)

struct Buffer {
  void* data = nullptr;
  size_t length = 0;  // elements
  MPI_Datatype type = MPI_DATATYPE_NULL;
  size_t bytes_per = 0;
};

/** A Float32Array, Float64Array, Int32Array or Uint8Array as an MPI buffer. */
bool get_buffer(napi_env env, napi_value v, Buffer* out, std::string* why) {
  bool is_typed = false;
  if (napi_is_typedarray(env, v, &is_typed) != napi_ok || !is_typed) {
    *why = "expected a typed array";
    return false;
  }
  napi_typedarray_type t;
  if (napi_get_typedarray_info(env, v, &t, &out->length, &out->data, nullptr, nullptr) != napi_ok) {
    *why = "cannot read the typed array";
    return false;
  }
  switch (t) {
    case napi_float32_array: out->type = MPI_FLOAT; out->bytes_per = 4; break;
    case napi_float64_array: out->type = MPI_DOUBLE; out->bytes_per = 8; break;
    case napi_int32_array: out->type = MPI_INT; out->bytes_per = 4; break;
    case napi_uint8_array: out->type = MPI_BYTE; out->bytes_per = 1; break;
    default: *why = "only Float32Array, Float64Array, Int32Array and Uint8Array are supported"; return false;
  }
  if (out->data == nullptr && out->length > 0) {
    *why = "the typed array has no data pointer";
    return false;
  }
  return true;
}

bool get_op(napi_env env, napi_value v, MPI_Op* op) {
  char buf[8] = {0};
  size_t n = 0;
  if (napi_get_value_string_utf8(env, v, buf, sizeof buf, &n) != napi_ok) return false;
  std::string s(buf, n);
  if (s == "sum") *op = MPI_SUM;
  else if (s == "max") *op = MPI_MAX;
  else if (s == "min") *op = MPI_MIN;
  else return false;
  return true;
}

bool get_int(napi_env env, napi_value v, int32_t* out) {
  return napi_get_value_int32(env, v, out) == napi_ok;
}

napi_value make_int(napi_env env, int64_t x) {
  napi_value v;
  napi_create_int64(env, x, &v);
  return v;
}

bool initialized() {
  int flag = 0;
  MPI_Initialized(&flag);
  int fin = 0;
  MPI_Finalized(&fin);
  return flag && !fin;
}

napi_value check(napi_env env, int rc, const char* what) {
  if (rc == MPI_SUCCESS) return nullptr;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  return throw_error(env, std::string(what) + " failed: " + std::string(msg, len));
}

// Counts are ints in MPI-3; calls on more elements go in chunks (collectives that allow it) or are refused.
constexpr size_t kChunk = size_t(1) << 30;

/** init(): MPI_Init_thread (funneled: only Node's main thread calls MPI) once; returns {rank, size, version, processor}. */
napi_value Init(napi_env env, napi_callback_info) {
  int flag = 0;
  MPI_Initialized(&flag);
  if (!flag) {
    int provided = 0;
    int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) return check(env, rc, "MPI_Init_thread");
  }
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  char version[MPI_MAX_LIBRARY_VERSION_STRING];
  int vlen = 0;
  MPI_Get_library_version(version, &vlen);
  char proc[MPI_MAX_PROCESSOR_NAME];
  int plen = 0;
  MPI_Get_processor_name(proc, &plen);
  napi_value out, v;
  CHECK_NAPI(napi_create_object(env, &out));
  CHECK_NAPI(napi_set_named_property(env, out, "rank", make_int(env, rank)));
  CHECK_NAPI(napi_set_named_property(env, out, "size", make_int(env, size)));
  std::string ver(version, strnlen(version, vlen));
  size_t nl = ver.find('\n');
  if (nl != std::string::npos) ver = ver.substr(0, nl);
  CHECK_NAPI(napi_create_string_utf8(env, ver.c_str(), ver.size(), &v));
  CHECK_NAPI(napi_set_named_property(env, out, "version", v));
  CHECK_NAPI(napi_create_string_utf8(env, proc, plen, &v));
  CHECK_NAPI(napi_set_named_property(env, out, "processor", v));
  return out;
}

#define ARGS(n)                                                     \
  size_t argc = n;                                                  \
  napi_value argv[n];                                               \
  CHECK_NAPI(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr)); \
  if (argc != n) return throw_error(env, "expected " #n " arguments"); \
  if (!initialized()) return throw_error(env, "MPI is not initialized (call init() first)");

/** allReduce(buffer, op): in place, every rank gets the reduction. */
napi_value AllReduce(napi_env env, napi_callback_info info) {
  ARGS(2);
  Buffer b;
  std::string why;
  if (!get_buffer(env, argv[0], &b, &why)) return throw_error(env, "allReduce: " + why);
  MPI_Op op;
  if (!get_op(env, argv[1], &op)) return throw_error(env, "allReduce: op must be 'sum', 'max' or 'min'");
  char* p = static_cast<char*>(b.data);
  for (size_t off = 0; off < b.length; off += kChunk) {
    int n = static_cast<int>(std::min(kChunk, b.length - off));
    int rc = MPI_Allreduce(MPI_IN_PLACE, p + off * b.bytes_per, n, b.type, op, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return check(env, rc, "MPI_Allreduce");
  }
  return nullptr;
}

bool get_counts(napi_env env, napi_value v, std::vector<int>* counts, int size) {
  napi_typedarray_type t;
  size_t len = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, v, &t, &len, &data, nullptr, nullptr) != napi_ok) return false;
  if (t != napi_int32_array || static_cast<int>(len) != size) return false;
  const int32_t* c = static_cast<const int32_t*>(data);
  counts->assign(c, c + len);
  for (int x : *counts) if (x < 0) return false;
  return true;
}

/** reduceScatter(send, recv, counts, op): rank r receives the reduction of send[displ_r, displ_r + counts[r]). */
napi_value ReduceScatter(napi_env env, napi_callback_info info) {
  ARGS(4);
  Buffer s, r;
  std::string why;
  if (!get_buffer(env, argv[0], &s, &why) || !get_buffer(env, argv[1], &r, &why)) return throw_error(env, "reduceScatter: " + why);
  if (s.type != r.type) return throw_error(env, "reduceScatter: send and recv must have the same element type");
  int size = 1, rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::vector<int> counts;
  if (!get_counts(env, argv[2], &counts, size)) return throw_error(env, "reduceScatter: counts must be an Int32Array with one count >= 0 per rank");
  size_t total = 0;
  for (int c : counts) total += static_cast<size_t>(c);
  if (total != s.length) return throw_error(env, "reduceScatter: counts must add up to the send length");
  if (static_cast<size_t>(counts[rank]) != r.length) return throw_error(env, "reduceScatter: recv must hold counts[rank] elements");
  MPI_Op op;
  if (!get_op(env, argv[3], &op)) return throw_error(env, "reduceScatter: op must be 'sum', 'max' or 'min'");
  return check(env, MPI_Reduce_scatter(s.data, r.data, counts.data(), s.type, op, MPI_COMM_WORLD), "MPI_Reduce_scatter");
}

/** allGather(send, recv, counts): recv = every rank's send, in rank order (counts[r] elements from rank r). */
napi_value AllGather(napi_env env, napi_callback_info info) {
  ARGS(3);
  Buffer s, r;
  std::string why;
  if (!get_buffer(env, argv[0], &s, &why) || !get_buffer(env, argv[1], &r, &why)) return throw_error(env, "allGather: " + why);
  if (s.type != r.type) return throw_error(env, "allGather: send and recv must have the same element type");
  int size = 1, rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::vector<int> counts;
  if (!get_counts(env, argv[2], &counts, size)) return throw_error(env, "allGather: counts must be an Int32Array with one count >= 0 per rank");
  std::vector<int> displs(size, 0);
  size_t total = 0;
  for (int i = 0; i < size; ++i) {
    if (total > static_cast<size_t>(INT32_MAX)) return throw_error(env, "allGather: more than 2^31 elements");
    displs[i] = static_cast<int>(total);
    total += static_cast<size_t>(counts[i]);
  }
  if (total != r.length) return throw_error(env, "allGather: counts must add up to the recv length");
  if (static_cast<size_t>(counts[rank]) != s.length) return throw_error(env, "allGather: send must hold counts[rank] elements");
  return check(env, MPI_Allgatherv(s.data, counts[rank], s.type, r.data, counts.data(), displs.data(), r.type, MPI_COMM_WORLD), "MPI_Allgatherv");
}

/** broadcast(buffer, root): in place, every rank gets root's contents. */
napi_value Broadcast(napi_env env, napi_callback_info info) {
  ARGS(2);
  Buffer b;
  std::string why;
  if (!get_buffer(env, argv[0], &b, &why)) return throw_error(env, "broadcast: " + why);
  int root = 0;
  if (!get_int(env, argv[1], &root)) return throw_error(env, "broadcast: root must be an integer");
  char* p = static_cast<char*>(b.data);
  for (size_t off = 0; off < b.length; off += kChunk) {
    int n = static_cast<int>(std::min(kChunk, b.length - off));
    int rc = MPI_Bcast(p + off * b.bytes_per, n, b.type, root, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return check(env, rc, "MPI_Bcast");
  }
  return nullptr;
}

napi_value Barrier(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  CHECK_NAPI(napi_get_cb_info(env, info, &argc, nullptr, nullptr, nullptr));
  if (!initialized()) return throw_error(env, "MPI is not initialized (call init() first)");
  return check(env, MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

napi_value Finalize(napi_env env, napi_callback_info) {
  if (initialized()) MPI_Finalize();
  return nullptr;
}

napi_value Abort(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK_NAPI(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  int32_t code = 1;
  if (argc == 1) get_int(env, argv[0], &code);
  if (initialized()) MPI_Abort(MPI_COMM_WORLD, code);
  return nullptr;
}

napi_value Initialized(napi_env env, napi_callback_info) {
  napi_value v;
  napi_get_boolean(env, initialized(), &v);
  return v;
}

napi_value Register(napi_env env, napi_value exports) {
  const struct {
    const char* name;
    napi_callback fn;
  } fns[] = {
      {"init", Init}, {"allReduce", AllReduce}, {"reduceScatter", ReduceScatter}, {"allGather", AllGather},
      {"broadcast", Broadcast}, {"barrier", Barrier}, {"finalize", Finalize}, {"abort", Abort}, {"initialized", Initialized},
  };
  for (const auto& f : fns) {
    napi_value fn;
    if (napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.fn, nullptr, &fn) != napi_ok) return nullptr;
    if (napi_set_named_property(env, exports, f.name, fn) != napi_ok) return nullptr;
  }
  return exports;
}

}  // namespace

NAPI_MODULE_INIT() { return Register(env, exports); }
