"""Reading a TFLite flatbuffer into the schema's object API, with a clear error for other bytes."""


def check_tflite_identifier(head, name, size=None):
    """Fails naming `name` unless `head` (at least the first 8 bytes) carries the TFLite file identifier."""
    if len(head) < 8 or bytes(head[4:8]) != b"TFL3":
        size = len(head) if size is None else size
        raise ValueError(f"{name} is not a TFLite flatbuffer (no 'TFL3' identifier in its first 8 bytes; "
                         f"{size} bytes). Fix: pass a .tflite file written by the converter.")


def read_model(flatbuffer, name="the file"):
    """The `ModelT` of `flatbuffer` (bytes); fails naming `name` when it is not a TFLite flatbuffer."""
    from tensorflow.lite.python import schema_py_generated as schema

    flatbuffer = bytes(flatbuffer)
    check_tflite_identifier(flatbuffer, name)
    return schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(flatbuffer, 0))
