// Loads a model file and continues a prompt greedily: `generate MODEL.gguf "Once upon a time" [tokens]`.
import Foundation
import ModelFiles
import RWKVGraph

let arguments = CommandLine.arguments
guard arguments.count >= 3 else {
    FileHandle.standardError.write(Data("usage: generate MODEL PROMPT [TOKENS]\n".utf8))
    exit(2)
}
do {
    let checkpoint = try Checkpoint.open(arguments[1])
    let weights = try RWKV7Weights(checkpoint)
    let codec = try TextCodec.forModel(checkpoint, vocabularySize: weights.hyperparameters.vocabularySize, vocabularyPath: nil)
    let session = try RWKV7Session(model: try RWKV7Model(weights), threads: 2)
    var settings = SamplerSettings()
    settings.temperature = 0
    let generator = TextGenerator(session: session, codec: codec, settings: settings)
    print(arguments[2], terminator: "")
    let (_, stats) = try generator.generate(prompt: Array(arguments[2].utf8), maxTokens: arguments.count > 3 ? Int(arguments[3]) ?? 40 : 40) {
        print($0, terminator: "")
    }
    print()
    FileHandle.standardError.write(Data("\(stats.summary)\n".utf8))
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
