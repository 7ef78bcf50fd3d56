//! DynamoDB's operations, parsed from `X-Amz-Target` before anything runs.

/// A DynamoDB operation Nimbus serves (the Streams API's are parsed in
/// `streams_api`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    CreateTable,
    DescribeTable,
    ListTables,
    UpdateTable,
    DeleteTable,
    UpdateTimeToLive,
    DescribeTimeToLive,
    TagResource,
    UntagResource,
    ListTagsOfResource,
    DescribeEndpoints,
    DescribeLimits,
    DescribeContinuousBackups,
    PutItem,
    GetItem,
    UpdateItem,
    DeleteItem,
    Query,
    Scan,
    BatchGetItem,
    BatchWriteItem,
    TransactWriteItems,
    TransactGetItems,
    ExecuteStatement,
    PutResourcePolicy,
    GetResourcePolicy,
    DeleteResourcePolicy,
}

impl Operation {
    pub fn parse(name: &str) -> Option<Operation> {
        Some(match name {
            "CreateTable" => Operation::CreateTable,
            "DescribeTable" => Operation::DescribeTable,
            "ListTables" => Operation::ListTables,
            "UpdateTable" => Operation::UpdateTable,
            "DeleteTable" => Operation::DeleteTable,
            "UpdateTimeToLive" => Operation::UpdateTimeToLive,
            "DescribeTimeToLive" => Operation::DescribeTimeToLive,
            "TagResource" => Operation::TagResource,
            "UntagResource" => Operation::UntagResource,
            "ListTagsOfResource" => Operation::ListTagsOfResource,
            "DescribeEndpoints" => Operation::DescribeEndpoints,
            "DescribeLimits" => Operation::DescribeLimits,
            "DescribeContinuousBackups" => Operation::DescribeContinuousBackups,
            "PutItem" => Operation::PutItem,
            "GetItem" => Operation::GetItem,
            "UpdateItem" => Operation::UpdateItem,
            "DeleteItem" => Operation::DeleteItem,
            "Query" => Operation::Query,
            "Scan" => Operation::Scan,
            "BatchGetItem" => Operation::BatchGetItem,
            "BatchWriteItem" => Operation::BatchWriteItem,
            "TransactWriteItems" => Operation::TransactWriteItems,
            "TransactGetItems" => Operation::TransactGetItems,
            "ExecuteStatement" => Operation::ExecuteStatement,
            "PutResourcePolicy" => Operation::PutResourcePolicy,
            "GetResourcePolicy" => Operation::GetResourcePolicy,
            "DeleteResourcePolicy" => Operation::DeleteResourcePolicy,
            _ => return None,
        })
    }

    /// Whether it commits (and so waits for the disk).
    pub fn writes(self) -> bool {
        matches!(
            self,
            Operation::PutItem
                | Operation::UpdateItem
                | Operation::DeleteItem
                | Operation::BatchWriteItem
                | Operation::TransactWriteItems
                | Operation::CreateTable
                | Operation::UpdateTable
                | Operation::DeleteTable
                | Operation::UpdateTimeToLive
                | Operation::TagResource
                | Operation::UntagResource
                | Operation::ExecuteStatement
                | Operation::PutResourcePolicy
                | Operation::DeleteResourcePolicy
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_parse_by_their_wire_names() {
        assert_eq!(Operation::parse("PutItem"), Some(Operation::PutItem));
        assert!(Operation::PutItem.writes() && !Operation::GetItem.writes());
        assert_eq!(Operation::parse("putItem"), None);
        assert_eq!(Operation::parse("RestoreTableFromBackup"), None);
    }
}
