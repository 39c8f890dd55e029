"""The FedPU Flower App's components. Handlers import keras_hire (and TensorFlow) only when they
train, so the partition query a SuperNode answers first costs no TensorFlow start-up."""

from flwr.app import Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import ServerApp

clientapp = ClientApp()
serverapp = ServerApp()


@clientapp.train()
def train(message, context):
    from keras_hire.methods.federated.flower import client_train

    return client_train(message, context)


@clientapp.query()
def query(message, context):
    """Which client (partition) this SuperNode holds."""
    partition = int(context.node_config["partition-id"])
    return Message(RecordDict({"metrics": MetricRecord({"partition-id": partition})}), reply_to=message)


@serverapp.main()
def main(grid, context):
    from keras_hire.methods.federated.flower import server_main

    server_main(grid, context)
