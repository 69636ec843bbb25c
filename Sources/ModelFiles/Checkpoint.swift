import Tensor

/// The container formats we read.
public enum CheckpointFormat: String, Sendable {
    case gguf = "GGUF"
    case pth = "PyTorch .pth"
    case safetensors = "safetensors"
    case rwkvCpp = "rwkv.cpp"
    /// Generated in memory (benchmark shapes), not read from a file.
    case generated = "generated"
}

/// The tensors of a model file as the file names and shapes them (ggml dimension order), viewed in
/// place; the format is recognised from the file's first bytes, not its extension.
public struct Checkpoint: @unchecked Sendable {
    public let path: String
    public let format: CheckpointFormat
    /// Tensors in file order.
    public let tensors: [(name: String, tensor: Tensor)]
    /// The parsed GGUF file (metadata) when the format is GGUF.
    public let gguf: GGUFFile?

    /// More tensors than any RWKV-7 model has (13.3B: about 2,500); a file that claims more is refused
    /// before its entries are kept, so a header cannot make a reader hold millions of them.
    public static let maxTensorCount = 1 << 16

    static func checkTensorCount(_ count: Int, path: String) throws {
        guard count <= maxTensorCount else {
            throw ModelFileError(path, "\(count) tensors: more than any RWKV-7 model has (at most \(maxTensorCount) are read)")
        }
    }

    /// Opens and validates `path`.
    public static func open(_ path: String) throws -> Checkpoint {
        try open(file: try MappedFile.mapping(path))
    }

    /// Validates a mapped (or in-memory) file.
    public static func open(file: MappedFile) throws -> Checkpoint {
        let path = file.path
        let bytes = file.bytes
        guard bytes.count >= 8 else { throw ModelFileError(path, "too short (\(bytes.count) bytes) to be a model file") }
        let head = bytes.loadUnaligned(as: UInt32.self)
        if head == GGUFFile.magic {
            let gguf = try GGUFFile(file: file)
            return Checkpoint(path: path, format: .gguf, tensors: try gguf.tensorNames.map { ($0, try gguf.tensor($0)) }, gguf: gguf)
        }
        if head == 0x0403_4B50 || (bytes[0] == 0x80 && bytes[1] == 0x02) {
            return Checkpoint(path: path, format: .pth, tensors: try PthReader.read(path: path, file: file), gguf: nil)
        }
        if head == RwkvCppReader.magic {
            return Checkpoint(path: path, format: .rwkvCpp, tensors: try RwkvCppReader.read(path: path, file: file).1, gguf: nil)
        }
        if bytes.count > 8, bytes[8] == UInt8(ascii: "{") {
            return Checkpoint(path: path, format: .safetensors, tensors: try SafeTensorsReader.read(path: path, file: file), gguf: nil)
        }
        throw ModelFileError(path, "unknown file format (not GGUF, .pth, safetensors or rwkv.cpp)")
    }
}
