import CKernels

/// The r8 layouts: Q8_0 / Q4_0 matrices with 8 rows interleaved block by block (see ``DType/q8_0r8``),
/// which the int8 matmul kernels read with one instruction per 8 rows. A copy in memory, never in a file.
extension Tensor {
    /// Whether ``interleavedForMatmul()`` would repack this tensor: a Q8_0 or Q4_0 matrix whose row count is
    /// a multiple of 8.
    public var isInterleavable: Bool {
        (dtype == .q8_0 || dtype == .q4_0) && shape.rank == 2 && shape[1] % 8 == 0
    }

    /// The r8 type this matrix is repacked into, nil where ``isInterleavable`` is false.
    var interleavedType: DType? {
        isInterleavable ? (dtype == .q8_0 ? .q8_0r8 : .q4_0r8) : nil
    }

    /// This matrix in the r8 layout the matmul kernels read fastest, or the tensor itself where it has none.
    /// A file-backed source's pages are released from the resident set once copied (they are read again
    /// from the file only if the original is used).
    public func interleavedForMatmul() -> Tensor {
        guard isInterleavable, let packed = try? interleavedRows() else { return self }
        storage.releaseResidentPages(byteOffset..<(byteOffset + byteCount))
        return packed
    }

    /// This Q8_0 or Q4_0 matrix repacked into `q8_0r8` / `q4_0r8`; throws for other types or row counts.
    public func interleavedRows() throws -> Tensor {
        guard let type = interleavedType else {
            throw TensorError("cannot interleave a \(dtype) tensor of shape \(shape) by 8 rows (needs Q8_0/Q4_0 and rows % 8 == 0)")
        }
        let out = try Tensor(zeros: type, shape)
        packRows8(into: out)
        return out
    }

    /// Writes this interleavable matrix's r8 layout into `out` (same shape, its r8 type, writable).
    func packRows8(into out: Tensor) {
        precondition(out.dtype == interleavedType && out.shape == shape, "packRows8: mismatched tensors")
        withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                rwkv_pack_rows8(src.baseAddress!, dst.baseAddress!, Int64(shape[1]), Int64(shape[0]), dtype == .q4_0 ? 1 : 0)
            }
        }
    }

    /// An r8 matrix back in its file type's row layout (the bytes ``interleavedRows()`` started from).
    public func deinterleavedRows() throws -> Tensor {
        guard let rowType = dtype.interleavedFrom else { throw TensorError("a \(dtype) tensor is not row-interleaved") }
        let out = try Tensor(zeros: rowType, shape)
        withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                rwkv_unpack_rows8(src.baseAddress!, dst.baseAddress!, Int64(shape[1]), Int64(shape[0]), rowType == .q4_0 ? 1 : 0)
            }
        }
        return out
    }
}
