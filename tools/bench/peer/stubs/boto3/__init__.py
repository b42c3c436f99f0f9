"""A stand-in for boto3, for the bench only: the CSV importer reads its file from S3 and starts Lambdas and SNS
messages through boto3; here the "S3 object" is a local file and the rest does nothing. Never used by the product."""
import os


class _Body:
    def __init__(self, path, offset):
        self._path = path
        self._offset = offset

    def iter_chunks(self, chunk_size=1024 * 1024):
        with open(self._path, 'rb') as f:
            f.seek(self._offset)
            while True:
                chunk = f.read(chunk_size)
                if not chunk:
                    return
                yield chunk


class _Object:
    def __init__(self, bucket, key):
        # The "bucket" is a local folder and the key a file in it.
        self._path = os.path.join(bucket, key)
        self.content_length = os.path.getsize(self._path)

    def get(self, Range='bytes=0-'):
        offset = int(Range.split('=')[1].split('-')[0])
        return {'Body': _Body(self._path, offset)}


class _S3:
    def Object(self, bucket, key):
        return _Object(bucket, key)


class _Client:
    def __getattr__(self, name):
        return lambda *args, **kwargs: {}


def resource(name, *args, **kwargs):
    if name != 's3':
        raise ValueError(f'bench boto3 stub: no resource {name}')
    return _S3()


def client(name, *args, **kwargs):
    return _Client()
